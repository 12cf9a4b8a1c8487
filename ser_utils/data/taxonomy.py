"""The project's unified emotion taxonomy and each corpus's mapping onto it."""

__all__ = [
    "EMOTIONS",
    "RAVDESS_EMOTIONS",
    "CREMAD_EMOTIONS",
    "TESS_EMOTIONS",
    "SAVEE_EMOTIONS",
    "EMODB_EMOTIONS",
    "OUT_OF_TAXONOMY",
    "AROUSAL_LEVELS",
    "VALENCE_LEVELS",
    "AROUSAL",
    "VALENCE",
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

# Where each emotion sits on Russell's circumplex (arousal × valence), binarised for arousal as in most SER
# papers (e.g. Schuller et al. 2009's benchmark mappings): neutral, calm and sad are low arousal; angry, happy,
# fearful and surprised high. Two placements are choices, not facts: disgust is high arousal here (most
# circumplex studies put it at medium-to-high arousal; Schuller et al. 2009 put EmoDB's disgust low), and
# surprised is positive valence (surprise is valence-ambiguous; TESS labels it "pleasant surprise" and RAVDESS
# does not say, so we follow TESS). Neutral sits at the centre of valence; calm is low-arousal positive.
AROUSAL_LEVELS = ("low", "high")
VALENCE_LEVELS = ("negative", "neutral", "positive")
AROUSAL = {
    "neutral": "low",
    "calm": "low",
    "happy": "high",
    "sad": "low",
    "angry": "high",
    "fearful": "high",
    "disgust": "high",
    "surprised": "high",
}
VALENCE = {
    "neutral": "neutral",
    "calm": "positive",
    "happy": "positive",
    "sad": "negative",
    "angry": "negative",
    "fearful": "negative",
    "disgust": "negative",
    "surprised": "positive",
}
