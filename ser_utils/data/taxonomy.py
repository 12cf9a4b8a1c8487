"""The project's unified emotion taxonomy and each corpus's mapping onto it."""

__all__ = [
    "EMOTIONS",
    "RAVDESS_EMOTIONS",
    "CREMAD_EMOTIONS",
    "TESS_EMOTIONS",
    "SAVEE_EMOTIONS",
    "EMODB_EMOTIONS",
    "OUT_OF_TAXONOMY",
]

# Order is fixed: it is the class index order of every model and confusion matrix.
EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")

# Each corpus's own code → (raw label as the corpus names it, unified emotion or None).
RAVDESS_EMOTIONS = {
    "01": ("neutral", "neutral"),
    "02": ("calm", "calm"),
    "03": ("happy", "happy"),
    "04": ("sad", "sad"),
    "05": ("angry", "angry"),
    "06": ("fearful", "fearful"),
    "07": ("disgust", "disgust"),
    "08": ("surprised", "surprised"),
}
CREMAD_EMOTIONS = {
    "ANG": ("anger", "angry"),
    "DIS": ("disgust", "disgust"),
    "FEA": ("fear", "fearful"),
    "HAP": ("happy", "happy"),
    "NEU": ("neutral", "neutral"),
    "SAD": ("sad", "sad"),
}
TESS_EMOTIONS = {
    "angry": ("angry", "angry"),
    "disgust": ("disgust", "disgust"),
    "fear": ("fear", "fearful"),
    "happy": ("happy", "happy"),
    "neutral": ("neutral", "neutral"),
    "ps": ("pleasant surprise", "surprised"),
    "sad": ("sad", "sad"),
}
SAVEE_EMOTIONS = {
    "a": ("anger", "angry"),
    "d": ("disgust", "disgust"),
    "f": ("fear", "fearful"),
    "h": ("happiness", "happy"),
    "n": ("neutral", "neutral"),
    "sa": ("sadness", "sad"),
    "su": ("surprise", "surprised"),
}
EMODB_EMOTIONS = {
    "W": ("anger (Ärger)", "angry"),
    "L": ("boredom (Langeweile)", None),
    "E": ("disgust (Ekel)", "disgust"),
    "A": ("fear (Angst)", "fearful"),
    "F": ("happiness (Freude)", "happy"),
    "T": ("sadness (Trauer)", "sad"),
    "N": ("neutral", "neutral"),
}

# Why a raw label without a unified emotion is kept in the manifest but not trained on.
OUT_OF_TAXONOMY = {
    "boredom (Langeweile)": "boredom has no counterpart in the unified taxonomy; excluded from training",
}
