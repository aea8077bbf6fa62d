"""The text demo: ULMFiT on the Rotten Tomatoes snippets, offline, end to end.

Uses the cached general language model (`python -m apps.text pretrain`);
without one it pretrains a smaller one first (1M tokens, about 8 minutes on
the shared 2-core machine) and says so. Then the language model is
fine-tuned on the training snippets, the classifier is trained with gradual
unfreezing, evaluated on the benchmark's test split, explained (HTML and
TensorBoard) and exported.
"""
import pathlib
import time

DEMO_PRETRAIN_TOKENS = 1_000_000


def run_demo(args):
    """`python -m apps.text demo`; returns the exit status."""
    from apps.cli import seed_everything
    from apps.text.datasets import rotten_tomatoes_split
    from apps.text.encoder_files import default_encoder_dir, load_encoder
    from apps.text.pretrain import pretrain_general_lm
    from apps.text.recipe import build_classifier_task, fine_tune_language_model
    from apps.text.report import write_reports

    seed_everything(args.seed)
    verbose = 0 if args.quiet else 2
    run_dir = pathlib.Path(args.run_dir or f"runs/text/{args.name}-demo")
    train, test = rotten_tomatoes_split()
    print(f"Rotten Tomatoes snippets: {len(train)} training, {len(test)} test (score > 0 = pos)")
    encoder = None
    if not args.from_scratch:
        folder = args.encoder or default_encoder_dir()
        if args.encoder is None and not (pathlib.Path(folder) / "encoder.json").is_file():
            print(f"no cached general language model: pretraining one on "
                  f"{DEMO_PRETRAIN_TOKENS:,} tokens (the full one: `python -m apps.text pretrain`)")
            pretrain_general_lm(run_dir / "general_lm", max_tokens=DEMO_PRETRAIN_TOKENS,
                                verbose=verbose)
            folder = run_dir / "general_lm"
        encoder = load_encoder(folder)
    start = time.perf_counter()
    if args.lm_epochs > 0:
        lm = fine_tune_language_model(encoder, list(train["text"]), epochs=args.lm_epochs,
                                      lr_max=args.lm_lr_max, seed=args.seed, verbose=verbose)
        print(f"language model: {lm.generate('this movie is', 12, seed=args.seed)!r}")
        encoder = lm.encoder()
    task = build_classifier_task(encoder, ["neg", "pos"], vocabulary_texts=list(train["text"]),
                                 batch_size=args.batch_size or 64, max_tokens=args.max_tokens,
                                 drop_mult=args.drop_mult, name=args.name)
    task.train(train, epochs=args.epochs, lr_max=args.lr_max, seed=args.seed, verbose=verbose,
               log_dir=str(run_dir / "logs"))
    accuracy = task.evaluate(test)["accuracy"]
    print(f"test accuracy {accuracy:.4f} (LM fine-tuning + classifier "
          f"{time.perf_counter() - start:.0f} s)")
    for label, path in write_reports(task, test, run_dir, log_dir=run_dir / "logs").items():
        print(f"{label}: {path}")
    print(f"run folder: {task.save(run_dir)}")
    if not args.no_export:
        print(f"SavedModel: {task.export(args.name, root=args.export_root)}")
    return 0
