"""Write baselines/<model>_<dataset>.toml for every reference model on the embedded datasets.

Each file spells out every hyperparameter (the recipe defaults resolved, plus the overrides below) and
the training budget, so a baseline is readable and reproducible without code. Rerun after changing a
recipe's defaults: `python scripts/make_baselines.py`.
"""

from __future__ import annotations

from pathlib import Path

from ganbench.data import get_dataset_info
from ganbench.models import list_models

ROOT = Path(__file__).resolve().parent.parent / "baselines"

# Smaller networks and larger learning rates than PacGAN's (see pacgan2d/ for its exact protocol), so a
# baseline trains in well under a minute on 2 CPU cores.
SMALL_2D_GAN = {"g_hidden": 128, "g_layers": 3, "d_hidden": 128, "d_layers": 2, "lr_g": 1e-3, "lr_d": 1e-3,
                "betas": [0.5, 0.999]}  # fmt: skip
OVERRIDES = {
    ("points2d", "gan"): SMALL_2D_GAN,
    ("points2d", "lsgan"): SMALL_2D_GAN,
    ("points2d", "hinge-sn"): SMALL_2D_GAN,
    ("points2d", "pacgan"): SMALL_2D_GAN,
    ("points2d", "wgan-gp"): {**SMALL_2D_GAN, "lr_g": 1e-3, "lr_d": 1e-3, "betas": [0.5, 0.9]},
    ("points2d", "vae"): {"hidden": 128, "layers": 3},
    ("points2d", "ae"): {"hidden": 128, "layers": 3},
    ("image", "*"): {"width": 32},
}
TRAIN = {
    "points2d": {"steps": 2000, "batch_size": 100, "log_every": 50, "checkpoint_every": 500, "eval_every": 500,
                 "eval_samples": 2500},  # fmt: skip
    "image": {"steps": 1500, "batch_size": 64, "log_every": 50, "checkpoint_every": 500, "eval_every": 500,
              "eval_samples": 2000},  # fmt: skip
}
DATASETS = ["ring8", "grid25", "digits", "stacked-digits"]


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    if v is None:
        raise ValueError("TOML has no null; leave the key out")
    return repr(v)


def render(model: str, dataset: str, description: str, params: dict, train: dict) -> str:
    lines = [f'model = "{model}"', f'dataset = "{dataset}"', f'description = "{description}"', "", "[model_params]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in sorted(params.items()) if v is not None]
    lines += ["", "[train]"] + [f"{k} = {toml_value(v)}" for k, v in train.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    for recipe in list_models():
        for dataset in DATASETS:
            kind = get_dataset_info(dataset).kind
            over = OVERRIDES.get((kind, recipe.name), OVERRIDES.get((kind, "*"), {}))
            params = recipe.resolve(kind, over)
            desc = f"{recipe.description} on {dataset}"
            path = ROOT / f"{recipe.name}_{dataset}.toml"
            path.write_text(render(recipe.name, dataset, desc, params, TRAIN[kind]))
            print(path)


if __name__ == "__main__":
    main()
