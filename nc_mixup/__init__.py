"""nc-mixup: mixup and neural collapse, experiments (Flax) beside theory (the UFM)."""

__version__ = "0.1.0"
