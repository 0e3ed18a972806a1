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
# Per (dataset, model), over the above. On the 8x8 digits the non-saturating GAN and PacGAN at DCGAN's 2e-4
# were still improving at 5,000 steps (FD 10 at 2,000, 5 at 5,000); at 1e-3 with the dataset's decay they
# level off by 3,500 (reports/budgets.md).
DATASET_OVERRIDES = {
    ("digits", "gan"): {"lr_g": 1e-3, "lr_d": 1e-3},
    ("digits", "pacgan"): {"lr_g": 1e-3, "lr_d": 1e-3},
}
# Budgets per dataset, the same for every model on it (one protocol per dataset), justified by the learning
# curves in reports/budgets.md (scripts/budget_study.py). ring8's modes (sd 0.01) need a small final learning
# rate for sharp samples: every rate decays linearly to a tenth over 1,800 steps, then stays there for 1,200,
# a constant stretch over which the plateau rule can judge the run. digits decays the same way (to a tenth
# over 1,800 steps, then 1,700 more), which damps the GANs' FD swings so that a plateau can be told from
# noise. grid25's GAN levels off at about 10,000 steps at a constant rate (a decay slowed its spreading over
# the 25 modes). Evaluations every twentieth of the budget give the plateau rule and the last-evaluations
# mean 20 points.
_2D = {"batch_size": 100, "log_every": 50, "eval_samples": 2500}
_IMG = {"batch_size": 64, "log_every": 50, "eval_samples": 2000}
TRAIN = {
    "ring8": {"steps": 3000, **_2D, "checkpoint_every": 1000, "eval_every": 150, "lr_schedule": "linear",
              "lr_floor": 0.1, "lr_decay_steps": 1800},
    "grid25": {"steps": 10000, **_2D, "checkpoint_every": 2500, "eval_every": 500},
    "digits": {"steps": 3500, **_IMG, "checkpoint_every": 1750, "eval_every": 175, "lr_schedule": "linear",
               "lr_floor": 0.1, "lr_decay_steps": 1800},
    "stacked-digits": {"steps": 3000, **_IMG, "checkpoint_every": 1000, "eval_every": 300},
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
            over = {**over, **DATASET_OVERRIDES.get((dataset, recipe.name), {})}
            params = recipe.resolve(kind, over)
            desc = f"{recipe.description} on {dataset}"
            path = ROOT / f"{recipe.name}_{dataset}.toml"
            path.write_text(render(recipe.name, dataset, desc, params, TRAIN[dataset]))
            print(path)


if __name__ == "__main__":
    main()
