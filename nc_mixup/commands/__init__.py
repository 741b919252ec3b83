"""Sub-commands of `nc-mixup` (see nc_mixup.cli)."""
