"""A BERT tokenizer trained on your corpus: one token per Chinese character, WordPiece for
Latin letters and digits, NFKC + lower-casing, and offsets into the original text."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 12_000, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a WordPiece vocabulary. Every CJK character is its own word (BERT's Chinese
    handling), so Chinese is one character a token; Latin and digit runs are split into
    WordPiece units. Characters seen fewer than ``min_frequency`` times become [UNK]."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        limit_alphabet=vocab_size,  # keep every frequent Chinese character
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    # the trainer numbers tokens of equal frequency in a thread-dependent order: renumber them
    # (specials first, then words, then ## pieces, each sorted) so a corpus always gives one vocabulary
    learned = [t for t in tokenizer.get_vocab() if t not in SPECIAL_TOKENS]
    ordered = SPECIAL_TOKENS + sorted(learned, key=lambda t: (t.startswith("##"), t))
    tokenizer.model = models.WordPiece(
        vocab={token: i for i, token in enumerate(ordered)}, unk_token="[UNK]", max_input_chars_per_word=100
    )
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    # the generic fast class keeps this exact pipeline on reload (BertTokenizer would rebuild
    # its normalizer from settings and drop NFKC)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=512,
    )
