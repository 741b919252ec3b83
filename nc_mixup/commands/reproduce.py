"""`nc-mixup reproduce` (not yet implemented)."""


def register(subparsers):
    p = subparsers.add_parser("reproduce", help="(not yet implemented)")
    p.set_defaults(run=run)


def run(args, extra):
    print("nc-mixup reproduce: not yet implemented")
    return 1
