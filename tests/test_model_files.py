"""Model files from user paths: weights are read from safetensors only; a pickle is never unpickled."""

import json
import pickle

import pytest
from transformers import BertConfig, BertModel

from skugraph.lm.model import load_for_pretraining
from skugraph.lm.tokenizer import train_tokenizer
from skugraph.lm.finetune import load_encoder


class _Payload:
    """Unpickling this writes a file: proof that a pickle ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def model_dir(tmp_path):
    """A tiny BERT directory (config, tokenizer, safetensors weights)."""
    directory = tmp_path / "model"
    tokenizer = train_tokenizer(["华为手机 蓝色", "小米 手表 黑色"] * 5, vocab_size=200, min_frequency=1)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_pickled_weights_are_refused_and_never_unpickled(model_dir, tmp_path):
    marker = tmp_path / "pickle-ran"
    (model_dir / "model.safetensors").unlink()
    (model_dir / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    for load in (load_for_pretraining, lambda path: load_encoder(str(path))):
        with pytest.raises(ValueError, match=r"no \.safetensors weights \(it has pytorch_model\.bin: pickle"):
            load(model_dir)
    from skugraph.tagging.model import TaggerModel

    (model_dir / "skugraph.json").write_text(json.dumps({"kind": "tagger", "tagger": {"tags": ["O"], "scheme": "bio"}}), "utf-8")
    with pytest.raises(ValueError, match="safetensors only"):
        TaggerModel.load(model_dir)
    assert not marker.exists()


def test_safetensors_are_read_and_a_pickle_beside_them_is_ignored(model_dir, tmp_path):
    marker = tmp_path / "pickle-ran"
    (model_dir / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    model, _ = load_for_pretraining(model_dir)
    encoder, _ = load_encoder(str(model_dir))
    assert model.config.hidden_size == encoder.config.hidden_size == 32
    assert not marker.exists()
