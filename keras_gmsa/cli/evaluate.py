"""`keras-gmsa evaluate`: the official metrics of a saved model."""

import json

from keras_gmsa import paths
from keras_gmsa.cli._common import load_model
from keras_gmsa.cli._records import add_model_and_pattern
from keras_gmsa.cli._records import add_segments
from keras_gmsa.cli._records import model_and_records
from keras_gmsa.progress import Progress


def add_parser(sub, parents):
    p = sub.add_parser(
        "evaluate",
        parents=[parents["records"], parents["loader"]],
        help="official metrics of a saved model on records",
        description="GAP, MAP, PERR and Hit@1 exactly as the YouTube-8M "
        "starter computes them, streamed over the records.",
    )
    add_model_and_pattern(p, "classes per video kept for GAP and MAP (GAP@20)")
    p.add_argument("--json", help="also write the metrics to this file")
    add_segments(
        p, "the segment MAP@100,000 of segment-rated records (segment_map)"
    )
    p.set_defaults(run=run)
    return p


def run(args):
    from keras_gmsa import metrics

    if args.segments:
        return _segments(args)
    model, dataset, num_classes = model_and_records(args)
    evaluator = metrics.Evaluator(num_classes, top_k=args.top_k)
    evaluator.update_from_model(
        model, dataset, progress=Progress(enabled=not args.quiet)
    )
    result = evaluator.result()
    for key in ("gap", "map", "perr", "hit_at_one"):
        print(f"{key:<11} {result[key]:.6f}")
    print(f"videos      {result['num_videos']}")
    print(dataset.read_stats)
    if args.json:
        with paths.open_file(args.json, "w") as f:
            json.dump(
                dict(result, read_stats=dataset.read_stats.as_dict()),
                f,
                indent=1,
            )


def _segments(args):
    from keras_gmsa import segments
    from keras_gmsa.cli.predict import segment_classes

    model = load_model(args.model)
    result = segments.evaluate_segments(
        model,
        args.pattern,
        scorer=args.scorer,
        ranking=args.ranking,
        top_k=args.top_k,
        classes=segment_classes(args, model),
        batch_size=args.batch_size,
        on_error=args.on_error,
        id_split=args.id_split,
        loader=args.loader,
        num_workers=args.loader_workers,
        progress=Progress(unit_name="segment", enabled=not args.quiet),
    )
    print(f"segment_map {result['segment_map']:.6f}")
    print(f"segments    {result['segments']}")
    print(f"classes     {result['classes']}")
    print(f"ranking     {result['ranking']} (every segment, {args.scorer})")
    if args.json:
        with paths.open_file(args.json, "w") as f:
            json.dump(result, f, indent=1)
