"""Constructor argument checks shared by the layers."""


def positive_int(name, value):
    """Raises ValueError unless `value` is a positive integer."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
