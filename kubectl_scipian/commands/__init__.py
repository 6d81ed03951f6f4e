"""One module per command, each with `run(args, ctx) -> int`; imported lazily by `cli`."""
