"""Tests for ser_utils.yamnet_*: front end, backbone, TFLite weights, classifier and CLI.

The proof tests need the YAMNet files (``$SER_YAMNET_DIR``, else ``<repo>/../shared/models/yamnet``)
and skip without them. Reference patch: Google's front end was fed ``audio / max|audio|`` (a gain of
32768 / 8078 = 4.056 over int16 / 32768) and used ``log(mel + 0.01)``; with exactly that our front end
reproduces it to 1e-5, and with YAMNet's own settings it differs by a near-constant log(4.056) = 1.40.
"""

import dataclasses
import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from ser_utils import cli
from ser_utils.audio.loading import SAMPLE_RATE, load_audio
from ser_utils.yamnet import weights as yamnet_weights
from ser_utils.yamnet.classify import classify_files
from ser_utils.yamnet.frontend import (
    LOG_OFFSET,
    N_MELS,
    PATCH_FRAMES,
    YamnetFrontend,
    frame_patches,
    num_patches,
    waveform_to_log_mel,
    waveform_to_patches,
)
from ser_utils.yamnet.network import (
    BLOCKS,
    build_waveform_model,
    build_yamnet,
    compiled_patch_model,
    embed_waveform,
    embedding_model,
    unfreeze_top_blocks,
    yamnet_from_tflite,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SER_SHARED_DIR", REPO.parent / "shared"))
MODEL_DIR = Path(os.environ.get("SER_YAMNET_DIR") or SHARED / "models" / "yamnet")
RAVDESS = SHARED / "data" / "ravdess" / "Actor_01"
RAVDESS_CLIPS = ["03-01-01-01-01-01-01.flac", "03-01-05-02-01-01-01.flac", "03-01-08-01-02-02-01.flac"]
TONE_CLASSES = {
    "Sine wave",
    "Beep, bleep",
    "Tuning fork",
    "Whistle",
    "Whistling",
    "Harmonic",
    "Chirp tone",
    "Dial tone",
    "Busy signal",
    "Ping",
    "Electronic tuner",
    "Hum",
    "Buzzer",
}

CONV_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)

needs_model = pytest.mark.skipif(
    not (MODEL_DIR / "yamnet_spectra_in.tflite").is_file(),
    reason=f"YAMNet files not found at {MODEL_DIR}; set SER_YAMNET_DIR to the folder holding them",
)
needs_ravdess = pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"RAVDESS clips not found at {RAVDESS}")
pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|experimental_preserve_all_tensors):UserWarning")


def tone(freq: float, *, seconds: float = 2.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A (samples,) float32 sine of amplitude 0.5 at ``sr`` Hz."""
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---- front end: known answers, no model needed ----


@pytest.mark.parametrize(
    ("n_samples", "expected"),
    [(0, 1), (400, 1), (15_600, 1), (15_601, 2), (15_600 + 7_680, 2), (15_600 + 7_681, 3), (48_000, 6)],
)
def test_num_patches_known_answers(n_samples, expected):
    assert num_patches(n_samples) == expected


@pytest.mark.parametrize("n_samples", [0, 100, 15_599, 15_600, 15_601, 40_000])
def test_patches_shape_matches_num_patches(n_samples):
    patches = waveform_to_patches(np.zeros(n_samples, np.float32))
    assert patches.shape == (num_patches(n_samples), PATCH_FRAMES, N_MELS)
    batched = waveform_to_patches(np.zeros((3, n_samples), np.float32))
    assert batched.shape == (3, num_patches(n_samples), PATCH_FRAMES, N_MELS)


def test_short_clip_gives_one_patch_padded_with_silence():
    patches = waveform_to_patches(tone(1000.0, seconds=0.1)).numpy()
    assert patches.shape == (1, PATCH_FRAMES, N_MELS)
    assert patches[0, 5].max() > 0  # the tone
    np.testing.assert_allclose(patches[0, 20:], np.log(LOG_OFFSET), rtol=1e-6)  # zero padding


def test_log_mel_frames_and_tone_band():
    log_mel = waveform_to_log_mel(tone(1000.0, seconds=1.0)).numpy()
    assert log_mel.shape == (1 + (SAMPLE_RATE - 400) // 160, N_MELS)
    # HTK mel bands 125-7500 Hz: band k is centred at mel(125) + (k + 1) * step
    mel = lambda hz: 1127.0 * np.log1p(hz / 700.0)  # noqa: E731
    step = (mel(7500.0) - mel(125.0)) / (N_MELS + 1)
    assert abs(log_mel.mean(axis=0).argmax() - ((mel(1000.0) - mel(125.0)) / step - 1)) <= 1


def test_frontend_layer_and_tf_data_match_the_function():
    waveforms = np.stack([tone(440.0, seconds=1.5), tone(2000.0, seconds=1.5)])
    expected = waveform_to_patches(waveforms).numpy()
    waveform_input = keras.Input(shape=(waveforms.shape[1],))
    model = keras.Model(waveform_input, YamnetFrontend()(waveform_input))
    assert model.output.shape == (None, num_patches(waveforms.shape[1]), PATCH_FRAMES, N_MELS)
    np.testing.assert_allclose(model.predict(waveforms, verbose=0), expected, atol=1e-4)  # float32 graph vs eager
    dataset = tf.data.Dataset.from_tensor_slices(waveforms).map(waveform_to_patches).batch(2)
    np.testing.assert_allclose(next(iter(dataset)).numpy(), expected, atol=1e-4)


def test_frontend_rejects_bad_input():
    with pytest.raises(ValueError, match="floating point"):
        waveform_to_patches(np.zeros(16_000, np.int16))
    with pytest.raises(ValueError, match="frames"):
        frame_patches(np.zeros((100, 40), np.float32))
    with pytest.raises(ValueError, match=">= 0"):
        num_patches(-1)


# ---- backbone without weights ----


def test_backbone_layout():
    model = build_yamnet()
    assert model.output["embeddings"].shape == (None, 1024)
    assert model.output["scores"].shape == (None, yamnet_weights.N_CLASSES) == (None, 521)
    assert model.get_layer("stem_conv").output.shape == (None, 48, 32, 32)
    assert model.get_layer("block13_pointwise").output.shape == (None, 3, 2, 1024)
    assert [model.get_layer(f"block{n}_pointwise").filters for n in range(1, 14)] == [f for _, f in BLOCKS]
    channels = sum(layer.output.shape[-1] for layer in model.layers if isinstance(layer, CONV_LAYERS))
    batch_norm_model = build_yamnet(activation="relu", batch_norm=True)
    # BatchNorm(scale=False) keeps beta, mean and variance per channel where the folded form has a bias
    assert batch_norm_model.count_params() - model.count_params() == 2 * channels
    assert build_yamnet(include_head=False).output.shape == (None, 1024)


def test_unfreeze_top_blocks():
    model = build_yamnet(include_head=False)
    unfreeze_top_blocks(model, n_blocks=2)
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    assert trainable == {"block12_depthwise", "block12_pointwise", "block13_depthwise", "block13_pointwise"}
    with pytest.raises(ValueError, match="between 0 and 13"):
        unfreeze_top_blocks(model, n_blocks=14)


# ---- proof that it is the real network ----


@pytest.fixture(scope="module")
def yamnet():
    return yamnet_from_tflite(MODEL_DIR / "yamnet_spectra_in.tflite")


@pytest.fixture(scope="module")
def class_names():
    return yamnet_weights.load_class_names(model_dir=MODEL_DIR)


@pytest.fixture(scope="module")
def run_tflite():
    """``run_tflite(patch) -> (scores (521,), embedding (1024,))`` from the int8 TFLite interpreter."""
    interpreter = tf.lite.Interpreter(
        model_path=str(MODEL_DIR / "yamnet_spectra_in.tflite"), experimental_preserve_all_tensors=True
    )
    interpreter.allocate_tensors()
    details = {d["name"]: d for d in interpreter.get_tensor_details()}
    pooled = next(d for name, d in details.items() if name.endswith("reduce_mean"))
    scale, zero_point = pooled["quantization"]

    def run(patch):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], patch[None].astype(np.float32))
        interpreter.invoke()
        scores = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
        embedding = (interpreter.get_tensor(pooled["index"]).reshape(-1).astype(np.float32) - zero_point) * scale
        return scores, embedding

    return run


def reference_files():
    audio = np.fromfile(MODEL_DIR / "yamnet_test_audio.bin", dtype="<i2")
    spectra = np.fromfile(MODEL_DIR / "yamnet_test_spectra.bin", dtype="<f4").reshape(PATCH_FRAMES, N_MELS)
    return audio, spectra


@needs_model
def test_front_end_reproduces_google_reference_patch():
    audio, reference = reference_files()
    ours = waveform_to_log_mel(audio / 32768.0).numpy()
    assert ours.shape == reference.shape
    assert np.corrcoef(ours.ravel(), reference.ravel())[0, 1] > 0.999
    gain = 32768.0 / np.abs(audio).max()
    offset = reference - ours
    assert abs(np.median(offset) - np.log(gain)) < 0.02
    loud = ours > -2.0  # mel >> log offset: there the gain is a pure shift
    assert loud.mean() > 0.5 and offset[loud].std() < 0.01
    exact = waveform_to_log_mel(audio / np.abs(audio).max(), log_offset=0.01).numpy()
    np.testing.assert_allclose(exact, reference, atol=1e-4)


@needs_model
def test_tflite_tensors_dequantise_onto_the_layout():
    weights = yamnet_weights.read_tflite_weights(MODEL_DIR / "yamnet_spectra_in.tflite")
    ops = [op for op, _, _ in weights]
    assert ops == ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * 13 + ["FULLY_CONNECTED"]
    assert weights[0][1].shape == (3, 3, 1, 32) and weights[1][1].shape == (3, 3, 32, 1)
    assert weights[-1][1].shape == (1024, 521)
    with pytest.raises(ValueError, match="batch_norm=False"):
        yamnet_weights.load_tflite_weights(build_yamnet(batch_norm=True), path=MODEL_DIR / "yamnet_spectra_in.tflite")
    interpreter = tf.lite.Interpreter(model_path=str(MODEL_DIR / "yamnet_spectra_in.tflite"))
    details = interpreter.get_tensor_details()
    input_scale = next(d for d in details if d["name"] == "tfl.quantize")["quantization"][0]
    kernel, bias = (
        next(d for d in details if d["name"].endswith(f))
        for f in ("layer1/conv/Conv2D", "layer1/conv/BatchNorm/FusedBatchNormV3")
    )
    np.testing.assert_allclose(
        bias["quantization_parameters"]["scales"],
        input_scale * kernel["quantization_parameters"]["scales"],
        rtol=1e-5,
    )


@needs_model
def test_keras_model_matches_tflite_interpreter(yamnet, run_tflite):
    _, reference = reference_files()
    patches = [reference, *(waveform_to_patches(tone(freq)).numpy()[0] for freq in (440.0, 1000.0, 3000.0))]
    for clip in RAVDESS_CLIPS if RAVDESS.is_dir() else []:
        patches.extend(waveform_to_patches(load_audio(RAVDESS / clip)).numpy()[:3])
    patches = np.stack(patches)
    keras_out = yamnet.predict(patches, verbose=0)
    embedding_cosines = []
    for patch, keras_scores, keras_embedding in zip(patches, keras_out["scores"], keras_out["embeddings"], strict=True):
        tflite_scores, tflite_embedding = run_tflite(patch)
        assert keras_scores.argmax() == tflite_scores.argmax()
        assert cosine(keras_scores, tflite_scores) > 0.99
        assert np.abs(keras_scores - tflite_scores).max() < 0.1  # int8 steps of the output are 1/256
        embedding_cosines.append(cosine(keras_embedding, tflite_embedding))
    assert min(embedding_cosines) > 0.99
    # the threshold is meaningful: different sounds, or random weights, are far below it
    assert cosine(keras_out["embeddings"][0], keras_out["embeddings"][1]) < 0.9
    random_embedding = build_yamnet(include_head=False).predict(patches[:1], verbose=0)[0]
    assert cosine(random_embedding, keras_out["embeddings"][0]) < 0.9


@needs_model
@needs_ravdess
@pytest.mark.parametrize("clip", RAVDESS_CLIPS)
def test_speech_is_top_class_on_ravdess(yamnet, class_names, clip):
    scores = yamnet.predict(waveform_to_patches(load_audio(RAVDESS / clip)), verbose=0)["scores"].mean(axis=0)
    assert class_names[scores.argmax()] == "Speech"


@needs_model
@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_pure_tone_top_class_is_tone_like(yamnet, class_names, freq):
    scores = yamnet.predict(waveform_to_patches(tone(freq)), verbose=0)["scores"].mean(axis=0)
    assert class_names[scores.argmax()] in TONE_CLASSES
    assert class_names[scores.argmax()] != "Speech"


@needs_model
def test_waveform_model_embeds_and_fine_tunes(yamnet):
    backbone = embedding_model(yamnet_from_tflite(MODEL_DIR / "yamnet_spectra_in.tflite"))
    waveforms = np.stack([tone(440.0, seconds=1.5), tone(1500.0, seconds=1.5)])
    waveform_model = build_waveform_model(backbone, n_samples=waveforms.shape[1])
    embeddings = waveform_model.predict(waveforms, verbose=0)
    assert embeddings.shape == (2, num_patches(waveforms.shape[1]), 1024)
    np.testing.assert_allclose(embed_waveform(waveforms[0], backbone=backbone), embeddings[0], atol=1e-4)
    compiled = compiled_patch_model(backbone)
    for waveform in (waveforms[1], tone(700.0, seconds=3.2)):  # one graph for any length
        np.testing.assert_allclose(compiled(waveform), embed_waveform(waveform, backbone=backbone), atol=1e-5)

    unfreeze_top_blocks(backbone, n_blocks=1)
    pooled = keras.layers.GlobalAveragePooling1D()(waveform_model.output)
    classifier = keras.Model(waveform_model.input, keras.layers.Dense(2, activation="softmax")(pooled))
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = backbone.get_layer("block12_pointwise").get_weights()[0].copy()
    top = backbone.get_layer("block13_pointwise").get_weights()[0].copy()
    classifier.fit(waveforms, np.array([0, 1]), epochs=1, verbose=0)
    assert np.array_equal(backbone.get_layer("block12_pointwise").get_weights()[0], frozen)
    assert not np.array_equal(backbone.get_layer("block13_pointwise").get_weights()[0], top)


# ---- classifier and command line ----


@needs_model
@needs_ravdess
def test_classify_files_and_cli(tmp_path, capsys):
    sf.write(tmp_path / "tone_44k.wav", tone(1000.0, sr=44_100), 44_100)  # resampled to 16 kHz on load
    sf.write(tmp_path / "tone_8k.flac", tone(1000.0, sr=8_000), 8_000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really audio")
    speech = RAVDESS / RAVDESS_CLIPS[0]
    table = classify_files([speech, tmp_path], top_k=3, model_dir=MODEL_DIR)
    assert len(table) == 3 + 3 + 1 + 3
    assert table.loc[table["path"] == str(speech)].iloc[0]["class_name"] == "Speech"
    broken = table.loc[table["path"].str.endswith("broken.wav")]
    assert len(broken) == 1 and "cannot be decoded" in broken.iloc[0]["error"]
    tones = table.loc[table["path"].str.contains("tone_") & (table["rank"] == 1)]
    assert len(tones) == 2 and set(tones["class_name"]) <= TONE_CLASSES

    exit_code = cli.main(["yamnet-classify", str(speech), str(tmp_path), "--top", "2", "--yamnet-dir", str(MODEL_DIR)])
    out, err = capsys.readouterr()
    assert exit_code == 1  # one file failed; the others were still classified
    assert f"{speech}\n  1. Speech" in out
    assert "broken.wav" in err and "error:" in err
    assert out.count("  1. ") == 3


def test_classify_files_rejects_empty_input(tmp_path):
    with pytest.raises(ValueError, match="no audio files"):
        classify_files([tmp_path], model_dir=tmp_path)


# ---- finding and downloading the weights ----


@pytest.fixture
def served_folder(tmp_path):
    """A local HTTP server over ``tmp_path / "www"``; yields (folder, base URL)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@needs_model
def test_missing_weights_are_downloaded_and_checked(tmp_path, served_folder, monkeypatch):
    folder, base_url = served_folder
    (folder / "good.tflite").write_bytes((MODEL_DIR / "yamnet_spectra_in.tflite").read_bytes())
    (folder / "bad.tflite").write_bytes(bytes(yamnet_weights.MODEL_FILES["tflite"].size))
    spec = yamnet_weights.MODEL_FILES["tflite"]
    files = dict(yamnet_weights.MODEL_FILES)
    monkeypatch.setattr(yamnet_weights, "MODEL_FILES", files)

    files["tflite"] = dataclasses.replace(spec, url=f"{base_url}/bad.tflite")
    with pytest.raises(yamnet_weights.YamnetFilesError, match="sha256") as error:
        yamnet_weights.model_file("tflite", model_dir=tmp_path / "cache")
    assert str(tmp_path / "cache" / spec.name) in str(error.value)
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-written is left

    files["tflite"] = dataclasses.replace(spec, url=f"{base_url}/good.tflite")
    path = yamnet_weights.model_file("tflite", model_dir=tmp_path / "cache")
    assert path == tmp_path / "cache" / spec.name and path.stat().st_size == spec.size


def test_missing_weights_offline_error_names_path_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv(yamnet_weights.MODEL_DIR_ENV_VAR, str(tmp_path))
    assert yamnet_weights.resolve_model_dir() == tmp_path
    with pytest.raises(yamnet_weights.YamnetFilesError) as error:
        yamnet_weights.model_file("tflite", download=False)
    assert str(tmp_path / "yamnet_spectra_in.tflite") in str(error.value)
    assert yamnet_weights.MODEL_FILES["tflite"].url in str(error.value)
