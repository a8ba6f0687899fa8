"""The tagger: a BERT-style encoder, gazetteer features and character-bigram embeddings
injected into the character representations, a linear layer to tag scores, and an
optional CRF on top.

    input ids ───────────────► word embeddings ─┐
    lexicon B/M/E/S bits, bigrams ─► projections ┴─(+)─► encoder ─► dropout ─┐
    lexicon B/M/E/S bits, bigrams ─► small projections ─────────────────────┴─(concat)─► linear ─► emissions ─► CRF

With ``word_features`` the lexicon bits end with four more: where jieba's dictionary (plus
the lexicons' words) cuts the text into words (see :mod:`skugraph.tagging.words`); a
directory saved before they existed loads without them.

The lexicon and bigram projections start at zero, so a pretrained encoder starts exactly
as it was pretrained. A model directory is the encoder in Hugging Face format (``config.json``,
``model.safetensors``, tokenizer) plus ``tagger.safetensors`` (everything else) and
``skugraph.json`` (this config, the tag set, the lexicons' names, training record).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel

from skugraph.lm.model import load_weights
from skugraph.tagging.crf import CRF

METADATA = "skugraph.json"
HEAD_WEIGHTS = "tagger.safetensors"
LEXICON_DIR = "lexicons"
NGRAM_FILE = "ngrams.txt"


@dataclass
class TaggerConfig:
    tags: list[str]  # id → tag, "O" first; the entity types come from the training data
    scheme: str = "bio"  # bio | bieos
    units: str = "char"  # char | subword (see encoding.TextEncoder)
    lexicons: list[str] = field(default_factory=list)  # gazetteer names, in feature order
    word_features: bool = False  # B/M/E/S of the word around each character, after the lexicon bits
    lexicon_dim: int = 32  # width of the lexicon features concatenated before the classifier
    ngrams: int = 0  # size of the character-bigram vocabulary (0: no bigram embeddings)
    ngram_dim: int = 64  # width of the bigram embeddings concatenated before the classifier
    crf: bool = True
    dropout: float = 0.1
    window: int = 128  # tokens per window, [CLS] and [SEP] included
    stride: int = 64  # tokens between window starts
    temperature: float = 1.0  # confidence calibration (fitted on dev)

    @property
    def feature_size(self) -> int:
        """Width of the per-token feature bits: 4 per lexicon, 4 more for word boundaries."""
        return 4 * (len(self.lexicons) + self.word_features)

    @property
    def entity_types(self) -> list[str]:
        return sorted({t.split("-", 1)[1] for t in self.tags if t != "O"})


class TaggerModel(torch.nn.Module):
    def __init__(self, encoder: PreTrainedModel, config: TaggerConfig):
        super().__init__()
        self.config = config
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        lexicon_size = config.feature_size
        self.lexicon_in = torch.nn.Linear(lexicon_size, hidden, bias=False) if lexicon_size else None
        self.lexicon_out = torch.nn.Linear(lexicon_size, config.lexicon_dim) if lexicon_size else None
        for layer in (self.lexicon_in, self.lexicon_out):
            if layer is not None:
                torch.nn.init.zeros_(layer.weight)
        self.ngram_in = torch.nn.Embedding(config.ngrams + 1, hidden, padding_idx=0) if config.ngrams else None
        self.ngram_out = torch.nn.Embedding(config.ngrams + 1, config.ngram_dim, padding_idx=0) if config.ngrams else None
        for table in (self.ngram_in, self.ngram_out):
            if table is not None:
                torch.nn.init.zeros_(table.weight)
        self.dropout = torch.nn.Dropout(config.dropout)
        width = hidden + (config.lexicon_dim if lexicon_size else 0) + (config.ngram_dim if config.ngrams else 0)
        self.classifier = torch.nn.Linear(width, len(config.tags))
        self.crf = CRF(config.tags) if config.crf else None

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, lexicon: torch.Tensor | None = None, ngrams: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Emission scores [B, W, tags] for every position, [CLS] and [SEP] included; ``lexicon``
        [B, W, feature size] lexicon (and word) bits, ``ngrams`` [B, W, 2] bigram ids."""
        embeddings = self.encoder.get_input_embeddings()(input_ids)
        if self.lexicon_in is not None and lexicon is not None:
            embeddings = embeddings + self.lexicon_in(lexicon.to(embeddings.dtype))
        if self.ngram_in is not None and ngrams is not None:
            embeddings = embeddings + self.ngram_in(ngrams).sum(dim=2)
        hidden = self.encoder(inputs_embeds=embeddings, attention_mask=attention_mask).last_hidden_state
        extra = []
        if self.lexicon_out is not None and lexicon is not None:
            extra.append(self.lexicon_out(lexicon.to(hidden.dtype)))
        if self.ngram_out is not None and ngrams is not None:
            extra.append(self.ngram_out(ngrams).sum(dim=2).to(hidden.dtype))
        if extra:
            hidden = torch.cat([hidden, *extra], dim=-1)
        return self.classifier(self.dropout(hidden))

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Training loss on token positions (emissions and tags without [CLS]/[SEP])."""
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask)
        return torch.nn.functional.cross_entropy(emissions.float()[mask], tags[mask])

    # -- saving and loading ---------------------------------------------------------------

    def save(self, out: Path, tokenizer, lexicon_words: dict[str, list[str]], ngrams: list[str], record: dict) -> None:
        """Write the model directory (see the module docstring)."""
        out.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(out)
        tokenizer.save_pretrained(out)
        heads = {k: v.detach().float().contiguous() for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        save_file(heads, str(out / HEAD_WEIGHTS))
        write_lexicons(out, lexicon_words)
        if ngrams:
            (out / NGRAM_FILE).write_text("\n".join(ngrams) + "\n", encoding="utf-8")
        meta = {"kind": "tagger", "tagger": asdict(self.config), **record}
        (out / METADATA).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> tuple[TaggerModel, object, dict[str, list[str]], list[str], dict]:
        """(model, tokenizer, lexicon words, bigram vocabulary, metadata) of a saved tagger directory."""
        meta_path = path / METADATA
        if not meta_path.is_file():
            raise FileNotFoundError(f"{path}: not a tagger directory (no {METADATA})")
        meta = json.loads(meta_path.read_text("utf-8"))
        if meta.get("kind") != "tagger":
            raise ValueError(f"{path}: {METADATA} says kind {meta.get('kind')!r}, not 'tagger'")
        config = TaggerConfig(**meta["tagger"])
        from transformers.utils import logging

        logging.disable_progress_bar()
        encoder = load_weights(AutoModel, path, config=AutoConfig.from_pretrained(path), add_pooling_layer=False)
        model = cls(encoder, config)
        missing, unexpected = model.load_state_dict(load_file(str(path / HEAD_WEIGHTS)), strict=False)
        if unexpected or any(not k.startswith("encoder.") for k in missing):
            raise ValueError(f"{path}: {HEAD_WEIGHTS} does not match the config (missing {missing}, unexpected {unexpected})")
        words = read_lexicons(path, config.lexicons)
        ngrams = (path / NGRAM_FILE).read_text("utf-8").split("\n")[: config.ngrams] if config.ngrams else []
        return model.eval(), AutoTokenizer.from_pretrained(path), words, ngrams, meta


def write_lexicons(out: Path, lexicon_words: dict[str, list[str]]) -> None:
    """The gazetteer words of a model directory, a file a name in :data:`LEXICON_DIR`."""
    if lexicon_words:
        (out / LEXICON_DIR).mkdir(exist_ok=True)
        for name, words in lexicon_words.items():
            (out / LEXICON_DIR / f"{name}.txt").write_text("\n".join(words) + "\n", encoding="utf-8")


def read_lexicons(path: Path, names: list[str]) -> dict[str, list[str]]:
    """The gazetteer words :func:`write_lexicons` wrote, by name."""
    return {name: (path / LEXICON_DIR / f"{name}.txt").read_text("utf-8").split("\n") for name in names}
