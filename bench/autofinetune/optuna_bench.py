"""bench/autofinetune/optuna_bench.py: Optuna's samplers (TPE, CMA-ES, random; default settings)
on the benchmark functions of functions.lua, the same budgets, one line per (function, sampler,
seed): `optuna FUNCTION SAMPLER SEED BEST_TRUE_VALUE`.

    build/data/venv-optuna/bin/python bench/autofinetune/optuna_bench.py [--seeds 20] [--only branin,...]

The noisy quadratic reports f + N(0, 1); the score is the noise-free f at the trial Optuna's
study calls best (study.best_trial), as for hubrun."""
import argparse, math, sys
import numpy as np
import optuna

def branin(x):
    a, b, c, r, s, t = 1, 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s

HA = [1.0, 1.2, 3.0, 3.2]
HAm = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
HP = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]

def hartmann6(x):
    s = 0.0
    for i in range(4):
        e = sum(HAm[i][j] * (x[j] - HP[i][j] * 1e-4) ** 2 for j in range(6))
        s += HA[i] * math.exp(-e)
    return -s

QC = [0.2 * i * (1 if i % 2 == 0 else -1) for i in range(1, 11)]

def quad10(x):
    return sum((x[i] - QC[i]) ** 2 for i in range(10))

FUNCS = {
    "branin": (branin, [(-5, 10), (0, 15)], 0.0, 50),
    "hartmann6": (hartmann6, [(0, 1)] * 6, 0.0, 100),
    "quad10": (quad10, [(-5, 5)] * 10, 1.0, 100),
}

def sampler(name, seed):
    if name == "tpe": return optuna.samplers.TPESampler(seed=seed)
    if name == "cmaes": return optuna.samplers.CmaEsSampler(seed=seed)
    if name == "random": return optuna.samplers.RandomSampler(seed=seed)
    raise SystemExit("unknown sampler " + name)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--only", default="branin,hartmann6,quad10")
    ap.add_argument("--samplers", default="tpe,cmaes,random")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    print("# optuna", optuna.__version__)
    for fname in a.only.split(","):
        f, bounds, noise, budget = FUNCS[fname]
        for sname in a.samplers.split(","):
            for seed in range(1, a.seeds + 1):
                rng = np.random.default_rng(1000 + seed)
                def objective(trial):
                    x = [trial.suggest_float("x%d" % (i + 1), lo, hi) for i, (lo, hi) in enumerate(bounds)]
                    trial.set_user_attr("true", f(x))
                    return f(x) + (noise * rng.standard_normal() if noise else 0.0)
                st = optuna.create_study(direction="minimize", sampler=sampler(sname, seed))
                st.optimize(objective, n_trials=budget)
                print("optuna %s %s %d %.10g" % (fname, sname, seed, st.best_trial.user_attrs["true"]))
                sys.stdout.flush()

if __name__ == "__main__":
    main()
