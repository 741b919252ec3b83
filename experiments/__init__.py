"""Experiments of nc-mixup: configs, the experiment registry and the `reproduce` driver.

- `experiments/configs/*.py`: ml_collections config files (`get_config(arg=None)`), the only
  place hyperparameters live.
- `experiments.registry`: every experiment of SPEC section 4 by name, per profile.
- `experiments.reproduce`: trains, analyses and builds figures, tables, claims and the report.
"""
