#!/usr/bin/env python3
"""The fine-tune of recipes/ernie_cls.lua run by Hugging Face's Trainer (bench/finetune/run.sh).

  python hf_trainer.py --model HF_DIR --data SPLIT_DIR [--epochs 1] [--batch_size 32] [--lr 2e-4]
                       [--max_seq_len 128] [--seed 1] [--threads 2] [--pooling cls|mean] [--dropout 0.1]
                       [--result out.json]

HF_DIR is what `hubrun convert to-hf MODULE --out HF_DIR` wrote (the same weights as the hubrun
run's module); SPLIT_DIR is what export_split.lua wrote (the recipe's exact train subset, dev and
test, in the recipe's order).  It does what hub.finetune does with the recipe's options:

  model      AutoModelForSequenceClassification (BertForSequenceClassification) from HF_DIR with
             num_labels from the data; when the module has no pooler (hubrun's head then reads
             the [CLS] hidden state, hub.task.text_classification) the pooler is replaced by
             "take [CLS]", so the head is the same: dropout (hidden_dropout_prob) + linear.
             --pooling mean (what recipes/ernie_cls.lua uses, hub.task's pooling = "mean"): the
             head reads the mean of the last hidden states under the attention mask ([CLS] and
             [SEP] included, as hubrun's), through the same dropout and linear
  data       the module's vocabulary and lower-casing (the tokenizer files in HF_DIR), truncated
             to max_seq_len tokens with [CLS] and [SEP]; dynamic padding (DataCollatorWithPadding)
             of length-grouped batches (group_by_length: hubrun trains on length-bucketed batches)
  optimiser  AdamW (betas 0.9/0.999, eps 1e-8), weight decay 0.01 except on biases and LayerNorm,
             global gradient-norm clipping at 1.0, and hubrun's schedule (hub.strategy.adamw,
             lua/hub/strategy/schedule.lua): warm-up w = floor(0.1 T) updates with m = t / w, then
             m = 1 - t / T (the decay line through t = 0, as PaddleHub's AdamWeightDecay)
  eval       dev accuracy at every epoch end (batch 64); the best epoch's weights are kept in
             memory and evaluated on test, as hub.finetune does
  threads    torch.set_num_threads(--threads), one inter-op thread

Prints one line per epoch with its training wall time (from the epoch's first batch to its
last update, evaluation excluded: on_epoch_begin to on_epoch_end) and a closing line
  hf: dev acc D test acc T epoch_s S1,S2,...
and writes the same as JSON to --result.
"""
import argparse
import json
import math
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face directory (hubrun convert to-hf)")
    ap.add_argument("--data", required=True, help="directory with train/dev/test.jsonl and labels.json (export_split.lua)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--eval_batch_size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--weight_decay", type=float, default=0.01)
    ap.add_argument("--max_seq_len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1,
                    help="every dropout: hidden, attention and the classifier's (hubrun's --dropout)")
    ap.add_argument("--pooling", choices=("cls", "mean"), default="cls",
                    help="the head's vector: [CLS] (default) or the masked mean of the token states")
    ap.add_argument("--group_by_length", type=int, default=1, help="1: length-grouped batches (default), 0: random")
    ap.add_argument("--work", default=None, help="Trainer's output_dir (nothing is saved there; default a temporary dir)")
    ap.add_argument("--result", default=None, help="write the figures as JSON here")
    a = ap.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    import transformers
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments)
    transformers.logging.set_verbosity_error()

    with open(os.path.join(a.data, "labels.json"), encoding="utf-8") as f:
        meta = json.load(f)
    labels = meta["labels"]

    def read(split):
        with open(os.path.join(a.data, split + ".jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    tok = AutoTokenizer.from_pretrained(a.model)

    def featurize(rows):
        out = []
        for r in rows:
            if r.get("text_b") is not None:
                enc = tok(r["text_a"], r["text_b"], truncation="longest_first", max_length=a.max_seq_len)
            else:
                enc = tok(r["text_a"], truncation=True, max_length=a.max_seq_len)
            enc = {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
            enc["labels"] = int(r["label"])
            out.append(enc)
        return out

    train, dev, test = featurize(read("train")), featurize(read("dev")), featurize(read("test"))
    print(f"hf: train {len(train)}, dev {len(dev)}, test {len(test)} examples (max_seq_len {a.max_seq_len}), "
          f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} thread(s)",
          flush=True)

    transformers.set_seed(a.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        a.model, num_labels=len(labels), id2label={i: l for i, l in enumerate(labels)},
        label2id={l: i for i, l in enumerate(labels)}, ignore_mismatched_sizes=True,
        hidden_dropout_prob=a.dropout, attention_probs_dropout_prob=a.dropout, classifier_dropout=a.dropout)
    from safetensors import safe_open
    with safe_open(os.path.join(a.model, "model.safetensors"), "pt") as f:
        has_pooler = any(".pooler." in k for k in f.keys())
    base = getattr(model, model.base_model_prefix)
    if not has_pooler:
        class ClsPooler(torch.nn.Module):
            def forward(self, hidden_states):
                return hidden_states[:, 0]
        base.pooler = ClsPooler()
    if a.pooling == "mean":
        from transformers.modeling_outputs import SequenceClassifierOutput

        class MeanPooled(torch.nn.Module):
            """BertForSequenceClassification's encoder, dropout and classifier on the masked mean."""
            def __init__(self, clf):
                super().__init__()
                self.clf = clf

            def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None):
                h = getattr(self.clf, self.clf.base_model_prefix)(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
                logits = self.clf.classifier(self.clf.dropout(pooled))
                loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
                return SequenceClassifierOutput(loss=loss, logits=logits)
        model = MeanPooled(model)

    # the optimiser and schedule of hub.strategy.adamw
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if ("bias" in name or "LayerNorm" in name or "layer_norm" in name) else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    steps_per_epoch = math.ceil(len(train) / a.batch_size)
    total = steps_per_epoch * a.epochs
    w = math.floor(a.warmup * total) if 0 < a.warmup < 1 else int(a.warmup)

    def mult(t):
        if t < w:
            return t / w
        return 1 - min(t, total) / total
    sched = torch.optim.lr_scheduler.LambdaLR(opt, mult)

    class Clock(TrainerCallback):
        def __init__(self):
            self.epoch_s, self.t0 = [], None
            self.best, self.best_state, self.best_epoch = None, None, None
            self.evals = []

        def on_epoch_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kw):
            self.epoch_s.append(time.perf_counter() - self.t0)
            print(f"hf: epoch {len(self.epoch_s)} trained in {self.epoch_s[-1]:.2f} s ({state.global_step} updates)",
                  flush=True)

        def on_evaluate(self, args, state, control, metrics=None, model=None, **kw):
            acc = (metrics or {}).get("eval_accuracy")
            if acc is None:
                return
            self.evals.append(acc)
            print(f"hf: step {state.global_step} dev acc {acc:.4f}", flush=True)
            if self.best is None or acc > self.best:
                self.best, self.best_epoch = acc, len(self.epoch_s)
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def accuracy(p):
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    import dataclasses
    import tempfile
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    kw = dict(output_dir=a.work or tempfile.mkdtemp(prefix="hf_trainer-"), num_train_epochs=a.epochs,
              per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=a.eval_batch_size,
              learning_rate=a.lr, weight_decay=a.weight_decay, max_grad_norm=1.0, seed=a.seed, data_seed=a.seed,
              save_strategy="no", logging_steps=10, report_to=[], disable_tqdm=True, dataloader_num_workers=0,
              remove_unused_columns=False)
    if "train_sampling_strategy" in fields:          # transformers 5
        kw["train_sampling_strategy"] = "group_by_length" if a.group_by_length else "random"
    else:
        kw["group_by_length"] = bool(a.group_by_length)
    kw["eval_strategy" if "eval_strategy" in fields else "evaluation_strategy"] = "epoch"
    if "use_cpu" in fields:
        kw["use_cpu"] = True
    else:
        kw["no_cuda"] = True
    unknown = sorted(k for k in kw if k not in fields)
    if unknown:
        sys.exit(f"hf_trainer.py: this transformers ({transformers.__version__}) has no TrainingArguments {unknown}")
    clock = Clock()
    trainer = Trainer(model=model, args=TrainingArguments(**kw), train_dataset=train, eval_dataset=dev,
                      data_collator=DataCollatorWithPadding(tok), compute_metrics=accuracy,
                      optimizers=(opt, sched), callbacks=[clock])
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    if clock.best_state is not None:
        model.load_state_dict(clock.best_state)
    test_m = trainer.evaluate(test, metric_key_prefix="test") if test else {}
    res = {"dev_acc": clock.best, "test_acc": test_m.get("test_accuracy"), "best_epoch": clock.best_epoch,
           "dev_acc_per_epoch": clock.evals, "epoch_s": clock.epoch_s, "train_s": train_s, "updates": total,
           "train": len(train), "dev": len(dev), "test": len(test), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "transformers": transformers.__version__}
    print("hf: dev acc %s test acc %s epoch_s %s" % (
        "-" if res["dev_acc"] is None else "%.4f" % res["dev_acc"],
        "-" if res["test_acc"] is None else "%.4f" % res["test_acc"],
        ",".join("%.2f" % s for s in clock.epoch_s)), flush=True)
    if a.result:
        with open(a.result, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
