"""`nc-mixup analyze` (not yet implemented)."""


def register(subparsers):
    p = subparsers.add_parser("analyze", help="(not yet implemented)")
    p.set_defaults(run=run)


def run(args, extra):
    print("nc-mixup analyze: not yet implemented")
    return 1
