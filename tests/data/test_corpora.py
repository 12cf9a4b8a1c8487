from pathlib import Path

import pytest

from ser_utils.data import corpora
from ser_utils.data.taxonomy import EMOTIONS


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "Actor_12/03-01-05-02-01-02-12.wav",
            dict(
                corpus="ravdess",
                speaker="ravdess_12",
                gender="female",
                emotion="angry",
                intensity="strong",
                statement="Kids are talking by the door",
                repetition=2,
                vocal_channel="speech",
            ),
        ),
        (
            "Actor_01/03-02-06-01-02-01-01.wav",
            dict(
                corpus="ravdess",
                speaker="ravdess_01",
                gender="male",
                emotion="fearful",
                vocal_channel="song",
                statement="Dogs are sitting by the door",
            ),
        ),
        (
            "AudioWAV/1001_DFA_ANG_XX.wav",
            dict(
                corpus="cremad",
                speaker="cremad_1001",
                emotion="angry",
                raw_label="anger",
                intensity="unspecified",
                statement="Don't forget a jacket",
            ),
        ),
        ("AudioWAV/1091_WSI_SAD_HI.wav", dict(corpus="cremad", emotion="sad", intensity="high")),
        (
            "OAF_Pleasant_surprise/OAF_back_ps.wav",
            dict(
                corpus="tess",
                speaker="tess_OAF",
                gender="female",
                emotion="surprised",
                raw_label="pleasant surprise",
                statement="Say the word back",
            ),
        ),
        ("YAF_fear/YAF_neat_fear.wav", dict(corpus="tess", speaker="tess_YAF", emotion="fearful")),
        ("OAF_neutral/OA_bite_neutral.wav", dict(corpus="tess", speaker="tess_OAF", emotion="neutral")),
        ("YAF_pleasant_surprised/YAF_bean_ps.wav", dict(speaker="tess_YAF", emotion="surprised")),
        ("ALL/DC_sa03.wav", dict(corpus="savee", speaker="savee_DC", gender="male", emotion="sad")),
        ("AudioData/KL/su15.wav", dict(corpus="savee", speaker="savee_KL", emotion="surprised")),
        ("AudioData/JE/a01.wav", dict(corpus="savee", speaker="savee_JE", emotion="angry")),
        (
            "wav/03a01Fa.wav",
            dict(corpus="emodb", speaker="emodb_03", gender="male", emotion="happy", statement="a01", repetition=1),
        ),
        ("wav/16b10Wb.wav", dict(corpus="emodb", speaker="emodb_16", gender="female", emotion="angry", repetition=2)),
    ],
)
def test_real_file_names_parse(path, expected):
    record = corpora.parse_clip_path(Path("/data") / path)
    assert record is not None
    for key, value in expected.items():
        assert record[key] == value, key
    assert record["emotion"] in EMOTIONS
    assert record["excluded_reason"] == ""


def test_emodb_boredom_kept_with_reason():
    record = corpora.parse_clip_path(Path("wav/03a05Lc.wav"))
    assert record["raw_label"].startswith("boredom")
    assert record["emotion"] == ""
    assert "boredom" in record["excluded_reason"]


def test_cremad_gender_from_demographics():
    record = corpora.parse_clip_path(Path("1002_IEO_HAP_LO.wav"), cremad_genders={"1002": "female"})
    assert record["gender"] == "female"
    assert corpora.parse_clip_path(Path("1003_IEO_HAP_LO.wav"))["gender"] == "unknown"


def test_demo_corpus_names():
    record = corpora.parse_clip_path(Path("Actor_03/03-01-04-01-01-01-03.wav"), demo=True)
    assert record["corpus"] == "demo" and record["speaker"] == "demo_03" and record["emotion"] == "sad"


@pytest.mark.parametrize(
    "name",
    [
        "notes.wav",
        "03-01-09-01-01-01-01.wav",
        "02-01-05-01-01-01-01.wav",
        "1001_DFA_XYZ_XX.wav",
        "20a01Fa.wav",
        "XX_a01.wav",
        "OAF_back_bored.wav",
    ],
)
def test_unrecognised_names_return_none(name):
    assert corpora.parse_clip_path(Path(name)) is None


def test_every_shared_clip_parses(shared_data):
    for corpus in ("ravdess", "tess"):
        for path in (shared_data / corpus).rglob("*.flac"):
            record = corpora.parse_clip_path(path)
            assert record is not None and record["corpus"] == corpus, path
