"""Parse each corpus's file-naming convention into one metadata record per clip."""

import re
from pathlib import Path

from ser_utils.data import taxonomy

__all__ = [
    "CORPORA",
    "DEMO_MARKER",
    "parse_clip_path",
    "parse_ravdess",
    "parse_cremad",
    "parse_tess",
    "parse_savee",
    "parse_emodb",
]

CORPORA = ("ravdess", "cremad", "tess", "savee", "emodb", "demo")
DEMO_MARKER = "SYNTHETIC_DEMO.json"

RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
RAVDESS_INTENSITIES = {"01": "normal", "02": "strong"}
CREMAD_SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
TESS_SPEAKERS = {"OAF": "older adult female (64)", "YAF": "younger adult female (26)"}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")  # four male speakers
EMODB_GENDERS = {
    "03": "male",
    "08": "female",
    "09": "female",
    "10": "male",
    "11": "male",
    "12": "male",
    "13": "female",
    "14": "female",
    "15": "male",
    "16": "female",
}

_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_CREMAD = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
_TESS_FILE = re.compile(r"^(OAF|YAF|OA|YA)_([A-Za-z]+)_([A-Za-z_]+)$", re.IGNORECASE)
_TESS_FOLDER = re.compile(r"^(OAF|YAF)_", re.IGNORECASE)
_SAVEE_FLAT = re.compile(r"^(DC|JE|JK|KL)_(sa|su|[adfhn])(\d\d)$")
_SAVEE_NESTED = re.compile(r"^(sa|su|[adfhn])(\d\d)$")
_EMODB = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")
_TESS_LABEL_VARIANTS = {
    "pleasant_surprise": "ps",
    "pleasant_surprised": "ps",
    "surprise": "ps",
    "surprised": "ps",
    "fearful": "fear",
}


def parse_clip_path(path: Path, *, demo: bool = False, cremad_genders: dict | None = None) -> dict | None:
    """Return the metadata record of one clip, or None when no corpus convention matches.

    The record holds: path, corpus, speaker (namespaced by corpus, e.g. ``ravdess_01``), gender,
    emotion (unified taxonomy, or "" when the label is outside it), raw_label, intensity,
    statement, repetition and excluded_reason ("" for clips usable in training).
    ``demo=True`` reads RAVDESS-style names as the synthetic demo corpus.
    ``cremad_genders`` maps CREMA-D actor ids to "male"/"female" (from VideoDemographics.csv).
    """
    path = Path(path)
    if demo:
        record = parse_ravdess(path)
        if record is not None:
            record.update(corpus="demo", speaker=record["speaker"].replace("ravdess_", "demo_"))
        return record
    for parser in (parse_ravdess, parse_emodb, parse_savee, parse_tess):
        record = parser(path)
        if record is not None:
            return record
    return parse_cremad(path, genders=cremad_genders)


def parse_ravdess(path: Path) -> dict | None:
    """RAVDESS ``MM-VV-EE-II-SS-RR-AA``: modality, vocal channel, emotion, intensity, statement,
    repetition, actor (odd actors male). Song clips (vocal channel 02) are kept, labelled as such."""
    match = _RAVDESS.match(Path(path).stem)
    if match is None:
        return None
    modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
    if emotion not in taxonomy.RAVDESS_EMOTIONS or modality not in ("01", "02", "03"):
        return None
    if modality == "02":  # video-only files carry no audio
        return None
    raw_label, unified = taxonomy.RAVDESS_EMOTIONS[emotion]
    return _record(
        path,
        corpus="ravdess",
        speaker=f"ravdess_{actor}",
        gender="male" if int(actor) % 2 else "female",
        raw_label=raw_label,
        emotion=unified,
        intensity=RAVDESS_INTENSITIES.get(intensity, intensity),
        statement=RAVDESS_STATEMENTS.get(statement, statement),
        repetition=int(repetition),
        vocal_channel="speech" if channel == "01" else "song",
    )


def parse_cremad(path: Path, *, genders: dict | None = None) -> dict | None:
    """CREMA-D ``ActorID_Sentence_Emotion_Level`` (level XX = unspecified)."""
    match = _CREMAD.match(Path(path).stem)
    if match is None:
        return None
    actor, sentence, emotion, level = match.groups()
    if emotion not in taxonomy.CREMAD_EMOTIONS:
        return None
    raw_label, unified = taxonomy.CREMAD_EMOTIONS[emotion]
    return _record(
        path,
        corpus="cremad",
        speaker=f"cremad_{actor}",
        gender=(genders or {}).get(actor, "unknown"),
        raw_label=raw_label,
        emotion=unified,
        intensity=CREMAD_LEVELS.get(level, level),
        statement=CREMAD_SENTENCES.get(sentence, sentence),
    )


def parse_tess(path: Path) -> dict | None:
    """TESS ``<speaker>_<word>_<emotion>`` inside ``OAF_*``/``YAF_*`` folders.

    The speaker comes from the folder when it names one (one file is called ``OA_bite_neutral``);
    ``ps`` is pleasant surprise; folder spellings vary (``OAF_Pleasant_surprise``, ``YAF_fear``).
    """
    path = Path(path)
    match = _TESS_FILE.match(path.stem)
    if match is None:
        return None
    file_speaker, word, label = match.groups()
    label = _TESS_LABEL_VARIANTS.get(label.lower(), label.lower())
    if label not in taxonomy.TESS_EMOTIONS:
        return None
    folder = _TESS_FOLDER.match(path.parent.name)
    speaker = folder.group(1).upper() if folder else file_speaker.upper().ljust(3, "F")
    raw_label, unified = taxonomy.TESS_EMOTIONS[label]
    return _record(
        path,
        corpus="tess",
        speaker=f"tess_{speaker}",
        gender="female",
        raw_label=raw_label,
        emotion=unified,
        statement=f"Say the word {word.lower()}",
    )


def parse_savee(path: Path) -> dict | None:
    """SAVEE ``DC_a01`` (flat layout) or ``DC/a01`` (AudioData layout); codes a d f h n sa su."""
    path = Path(path)
    flat = _SAVEE_FLAT.match(path.stem)
    nested = _SAVEE_NESTED.match(path.stem) if path.parent.name in SAVEE_SPEAKERS else None
    if flat:
        speaker, code, number = flat.groups()
    elif nested:
        speaker, (code, number) = path.parent.name, nested.groups()
    else:
        return None
    raw_label, unified = taxonomy.SAVEE_EMOTIONS[code]
    return _record(
        path,
        corpus="savee",
        speaker=f"savee_{speaker}",
        gender="male",
        raw_label=raw_label,
        emotion=unified,
        statement=f"{code}{number}",
    )


def parse_emodb(path: Path) -> dict | None:
    """EmoDB ``03a01Fa``: speaker, text code, emotion letter (W L E A F T N), version."""
    match = _EMODB.match(Path(path).stem)
    if match is None or match.group(1) not in EMODB_GENDERS:
        return None
    speaker, text, letter, version = match.groups()
    raw_label, unified = taxonomy.EMODB_EMOTIONS[letter]
    return _record(
        path,
        corpus="emodb",
        speaker=f"emodb_{speaker}",
        gender=EMODB_GENDERS[speaker],
        raw_label=raw_label,
        emotion=unified,
        statement=text,
        repetition=ord(version) - ord("a") + 1,
    )


def _record(
    path: Path,
    *,
    corpus: str,
    speaker: str,
    gender: str,
    raw_label: str,
    emotion: str | None,
    intensity: str = "",
    statement: str = "",
    repetition: int = 1,
    vocal_channel: str = "speech",
) -> dict:
    excluded = (
        ""
        if emotion
        else taxonomy.OUT_OF_TAXONOMY.get(
            raw_label, f"label '{raw_label}' is outside the unified taxonomy; excluded from training"
        )
    )
    return {
        "path": str(path),
        "corpus": corpus,
        "speaker": speaker,
        "gender": gender,
        "emotion": emotion or "",
        "raw_label": raw_label,
        "intensity": intensity,
        "statement": statement,
        "repetition": repetition,
        "vocal_channel": vocal_channel,
        "excluded_reason": excluded,
    }
