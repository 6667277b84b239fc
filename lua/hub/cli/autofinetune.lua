-- `hubrun autofinetune`: hyper-parameter search over a script's hub.hparams{} (PaddleHub's
-- AutoDL Finetuner; hub.autotune.driver does the work, docs/autofinetune.md says everything).
local cli = require "hub.cli_util"

local M = {
  summary = "search a script's hyper-parameters (HAZero, PSHE2, TPE, random, grid, ASHA)",
  usage = "hubrun autofinetune SCRIPT --param_file FILE [options] [-- SCRIPT_ARGS...]",
  help = [[
Runs SCRIPT as child hubrun processes ("trials"), each with parameter values the strategy
chooses from the param file's ranges; the script reads them with hub.hparams{ name = default }
and reports its score with hub.report(value, { step = n }) (the last report is the result).
popsize x round trials in all, --workers at once; a trial that crashes, hangs (--timeout) or
never reports is recorded as failed and the search goes on.  Everything lands in --output_dir:
journal.jsonl (resume a killed search with --resume), trials/NNNN/ (params, log, reports, the
script's own outputs), summary.txt, trials.csv, best.json, best/ and search.png.

The param file is PaddleHub's hparam.yaml (or JSON):
  param_list:
  - name: lr
    init_value: 5e-5
    type: float              # or int
    greater_than: 1e-6       # lower bound
    lower_than: 1e-3         # upper bound
    log: true                # optional: search on a log scale

strategies: hazero (CMA-ES), pshe2 (particle swarm; PaddleHub's default), tpe (Parzen
estimators), random, grid, asha (random + successive halving on intermediate reports).
evaluators: fulltrail (every trial from scratch); populationbased (from round 1 on, each
trial starts from a copy of a better trial's checkpoint: hub.trial.resume_from()).

examples:
  hubrun autofinetune train.lua --param_file hparam.yaml --popsize 5 --round 4 --workers 2
  hubrun autofinetune train.lua --param_file h.json --tuning_strategy tpe --direction min -- --epochs 2
  hubrun autofinetune train.lua --param_file h.yaml --output_dir out --resume]],
  flags = {
    { "param_file", nil, arg = "FILE", help = "the search space (YAML or JSON; required)" },
    { "popsize", nil, arg = "N", help = "trials per round (default 5)" },
    { "round", nil, arg = "N", help = "rounds (default 10); popsize x round trials in all" },
    { "workers", nil, arg = "N", help = "trials run at once (default 1)" },
    { "output_dir", nil, arg = "DIR", help = "where everything goes (default output_YYYYmmddHHMMSS)" },
    { "evaluator", nil, arg = "NAME", help = "fulltrail (default) or populationbased" },
    { "tuning_strategy", nil, arg = "NAME", help = "hazero, pshe2 (default), tpe, random, grid or asha" },
    { "direction", nil, arg = "max|min", help = "maximise (default) or minimise the reported value" },
    { "seed", nil, arg = "S", help = "the strategy's random seed (default 0)" },
    { "resume", nil, help = "continue the search in --output_dir from its journal" },
    { "timeout", nil, arg = "SECONDS", help = "a trial running longer is stopped and counted as failed" },
    { "threads_per_trial", nil, arg = "N", help = "threads of each trial (default: cores / workers)" },
    { "hubrun", nil, arg = "PATH", help = "the hubrun that runs trials (default: this one)" },
  },
}

local function number(opts, name, integer)
  local v = opts[name]
  if v == nil then return nil end
  local n = tonumber(v)
  if not n or (integer and n ~= math.floor(n)) then
    cli.usage_error(string.format("--%s must be %s, got '%s'", name, integer and "an integer" or "a number", tostring(v)))
  end
  return n
end

M.main = cli.command("autofinetune", M, function(opts, args)
  local script = args[1]
  local script_args = {}
  for i = 2, #args do script_args[#script_args + 1] = args[i] end
  if not script and not opts.resume then cli.usage_error("which script? (hubrun autofinetune SCRIPT --param_file FILE)") end
  if not opts.param_file and not opts.resume then cli.usage_error("--param_file is required") end
  if opts.resume and not opts.output_dir then cli.usage_error("--resume needs --output_dir (the search to continue)") end
  local driver = require "hub.autotune.driver"
  local r = driver.run {
    script = script, script_args = #script_args > 0 and script_args or nil, param_file = opts.param_file,
    popsize = number(opts, "popsize", true), rounds = number(opts, "round", true),
    workers = number(opts, "workers", true), output_dir = opts.output_dir, evaluator = opts.evaluator,
    strategy = opts.tuning_strategy, direction = opts.direction, seed = number(opts, "seed", true),
    resume = opts.resume and true or false, timeout = number(opts, "timeout"),
    threads = number(opts, "threads_per_trial", true), hubrun = opts.hubrun,
  }
  if not r.best then
    io.stderr:write("hubrun autofinetune: no trial succeeded; see the logs in ", r.output_dir, "/trials/*/log.txt\n")
    return 1
  end
  return 0
end)

return M
