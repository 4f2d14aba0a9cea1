"""Keras's `model.summary()` table, character for character, and the same rows as a DataFrame."""

from __future__ import annotations

import bisect
import functools
import re
import shutil


# Keras's two tables: a model whose layers form one chain, and any other graph (with a "Connected to" column)
_CHAIN = (("Layer (type)", "Output Shape", "Param #"), (0.45, 0.80, 1.0), ("left", "left", "right"), 88)
_GRAPH = (
    ("Layer (type)", "Output Shape", "Param #", "Connected to"),
    (0.3, 0.56, 0.74, 1.0),
    ("left", "left", "right", "left"),
    108,
)


def _shrink(columns: int) -> list[int]:
    """How rich trims each padded cell to fit the table's width: 3 per column and one more in all (the borders and
    padding), taken evenly in order with Python's rounding (rich's ratio_reduce): (3, 4, 3) for 3 columns."""
    remaining, cuts = 3 * columns + 1, []
    for left in range(columns, 0, -1):
        cut = round(remaining / left)
        cuts.append(cut)
        remaining -= cut
    return cuts


def readable_size(params: int) -> str:
    """Bytes of `params` float32 weights as Keras prints them: `976.00 B`, `1.55 MB`."""
    size, units = params * 4.0, ["B", "KB", "MB", "GB", "TB", "PB"]
    while size >= 1024 and len(units) > 1:
        size, units = size / 1024, units[1:]
    return f"{size:.2f} {units[0]}"


# Display widths as rich (which prints Keras's summary) counts them: its table for Unicode 17.0.0 (rich 15, from
# wcwidth; rich's default unless UNICODE_VERSION says otherwise). Code points in hex; every other one is 1 column
# wide, except control characters (0). tests/test_summary.py compares cell_width with rich.cells.cell_len.
_ZERO_WIDTH = (
    "0 300-36f 483-489 591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 610-61a 61c 64b-65f 670 6d6-6dc 6df-6e4 6e7-6e8 "
    "6ea-6ed 711 730-74a 7a6-7b0 7eb-7f3 7fd 816-819 81b-823 825-827 829-82d 859-85b 897-89f 8ca-8e1 8e3-903 "
    "93a-93c 93e-94f 951-957 962-963 981-983 9bc 9be-9c4 9c7-9c8 9cb-9cd 9d7 9e2-9e3 9fe a01-a03 a3c a3e-a42 "
    "a47-a48 a4b-a4d a51 a70-a71 a75 a81-a83 abc abe-ac5 ac7-ac9 acb-acd ae2-ae3 afa-aff b01-b03 b3c b3e-b44 "
    "b47-b48 b4b-b4d b55-b57 b62-b63 b82 bbe-bc2 bc6-bc8 bca-bcd bd7 c00-c04 c3c c3e-c44 c46-c48 c4a-c4d "
    "c55-c56 c62-c63 c81-c83 cbc cbe-cc4 cc6-cc8 cca-ccd cd5-cd6 ce2-ce3 cf3 d00-d03 d3b-d3c d3e-d44 d46-d48 "
    "d4a-d4d d57 d62-d63 d81-d83 dca dcf-dd4 dd6 dd8-ddf df2-df3 e31 e34-e3a e47-e4e eb1 eb4-ebc ec8-ece "
    "f18-f19 f35 f37 f39 f3e-f3f f71-f84 f86-f87 f8d-f97 f99-fbc fc6 102b-103e 1056-1059 105e-1060 1062-1064 "
    "1067-106d 1071-1074 1082-108d 108f 109a-109d 1160-11ff 135d-135f 1712-1715 1732-1734 1752-1753 1772-1773 "
    "17b4-17d3 17dd 180b-180f 1885-1886 18a9 1920-192b 1930-193b 1a17-1a1b 1a55-1a5e 1a60-1a7c 1a7f 1ab0-1add "
    "1ae0-1aeb 1b00-1b04 1b34-1b44 1b6b-1b73 1b80-1b82 1ba1-1bad 1be6-1bf3 1c24-1c37 1cd0-1cd2 1cd4-1ce8 1ced "
    "1cf4 1cf7-1cf9 1dc0-1dff 200b-200f 2028-202e 2060-206f 20d0-20f0 2cef-2cf1 2d7f 2de0-2dff 302a-302f "
    "3099-309a 3164 a66f-a672 a674-a67d a69e-a69f a6f0-a6f1 a802 a806 a80b a823-a827 a82c a880-a881 a8b4-a8c5 "
    "a8e0-a8f1 a8ff a926-a92d a947-a953 a980-a983 a9b3-a9c0 a9e5 aa29-aa36 aa43 aa4c-aa4d aa7b-aa7d aab0 "
    "aab2-aab4 aab7-aab8 aabe-aabf aac1 aaeb-aaef aaf5-aaf6 abe3-abea abec-abed d7b0-d7ff fb1e fe00-fe0f "
    "fe20-fe2f feff ffa0 fff0-fffb 101fd 102e0 10376-1037a 10a01-10a03 10a05-10a06 10a0c-10a0f 10a38-10a3a "
    "10a3f 10ae5-10ae6 10d24-10d27 10d69-10d6d 10eab-10eac 10efa-10eff 10f46-10f50 10f82-10f85 11000-11002 "
    "11038-11046 11070 11073-11074 1107f-11082 110b0-110ba 110c2 11100-11102 11127-11134 11145-11146 11173 "
    "11180-11182 111b3-111c0 111c9-111cc 111ce-111cf 1122c-11237 1123e 11241 112df-112ea 11300-11303 "
    "1133b-1133c 1133e-11344 11347-11348 1134b-1134d 11357 11362-11363 11366-1136c 11370-11374 113b8-113c0 "
    "113c2 113c5 113c7-113ca 113cc-113d0 113d2 113e1-113e2 11435-11446 1145e 114b0-114c3 115af-115b5 "
    "115b8-115c0 115dc-115dd 11630-11640 116ab-116b7 1171d-1172b 1182c-1183a 11930-11935 11937-11938 "
    "1193b-1193e 11940 11942-11943 119d1-119d7 119da-119e0 119e4 11a01-11a0a 11a33-11a39 11a3b-11a3e 11a47 "
    "11a51-11a5b 11a8a-11a99 11b60-11b67 11c2f-11c36 11c38-11c3f 11c92-11ca7 11ca9-11cb6 11d31-11d36 11d3a "
    "11d3c-11d3d 11d3f-11d45 11d47 11d8a-11d8e 11d90-11d91 11d93-11d97 11ef3-11ef6 11f00-11f01 11f03 "
    "11f34-11f3a 11f3e-11f42 11f5a 13430-13440 13447-13455 1611e-1612f 16af0-16af4 16b30-16b36 16f4f "
    "16f51-16f87 16f8f-16f92 16fe4 16ff0-16ff1 1bc9d-1bc9e 1bca0-1bca3 1cf00-1cf2d 1cf30-1cf46 1d165-1d169 "
    "1d16d-1d182 1d185-1d18b 1d1aa-1d1ad 1d242-1d244 1da00-1da36 1da3b-1da6c 1da75 1da84 1da9b-1da9f "
    "1daa1-1daaf 1e000-1e006 1e008-1e018 1e01b-1e021 1e023-1e024 1e026-1e02a 1e08f 1e130-1e136 1e2ae "
    "1e2ec-1e2ef 1e4ec-1e4ef 1e5ee-1e5ef 1e6e3 1e6e6 1e6ee-1e6ef 1e6f5 1e8d0-1e8d6 1e944-1e94a 1f3fb-1f3ff "
    "e0000-e0fff"
)
_DOUBLE_WIDTH = (
    "1100-115f 231a-231b 2329-232a 23e9-23ec 23f0 23f3 25fd-25fe 2614-2615 2630-2637 2648-2653 267f 268a-268f "
    "2693 26a1 26aa-26ab 26bd-26be 26c4-26c5 26ce 26d4 26ea 26f2-26f3 26f5 26fa 26fd 2705 270a-270b 2728 274c "
    "274e 2753-2755 2757 2795-2797 27b0 27bf 2b1b-2b1c 2b50 2b55 2e80-2e99 2e9b-2ef3 2f00-2fd5 2ff0-3029 "
    "3030-303e 3041-3096 309b-30ff 3105-312f 3131-3163 3165-318e 3190-31e5 31ef-321e 3220-3247 3250-a48c "
    "a490-a4c6 a960-a97c ac00-d7a3 f900-faff fe10-fe19 fe30-fe52 fe54-fe66 fe68-fe6b ff01-ff60 ffe0-ffe6 "
    "16fe0-16fe3 16ff2-16ff6 17000-18cd5 18cff-18d1e 18d80-18df2 1aff0-1aff3 1aff5-1affb 1affd-1affe "
    "1b000-1b122 1b132 1b150-1b152 1b155 1b164-1b167 1b170-1b2fb 1d300-1d356 1d360-1d376 1f004 1f0cf 1f18e "
    "1f191-1f19a 1f200-1f202 1f210-1f23b 1f240-1f248 1f250-1f251 1f260-1f265 1f300-1f320 1f32d-1f335 "
    "1f337-1f37c 1f37e-1f393 1f3a0-1f3ca 1f3cf-1f3d3 1f3e0-1f3f0 1f3f4 1f3f8-1f3fa 1f400-1f43e 1f440 "
    "1f442-1f4fc 1f4ff-1f53d 1f54b-1f54e 1f550-1f567 1f57a 1f595-1f596 1f5a4 1f5fb-1f64f 1f680-1f6c5 1f6cc "
    "1f6d0-1f6d2 1f6d5-1f6d8 1f6dc-1f6df 1f6eb-1f6ec 1f6f4-1f6fc 1f7e0-1f7eb 1f7f0 1f90c-1f93a 1f93c-1f945 "
    "1f947-1f9ff 1fa70-1fa7c 1fa80-1fa8a 1fa8e-1fac6 1fac8 1facd-1fadc 1fadf-1faea 1faef-1faf8 20000-2fffd "
    "30000-3fffd"
)
_WIDE_WITH_VS16 = (
    "23 2a 30-39 a9 ae 203c 2049 2122 2139 2194-2199 21a9-21aa 2328 23cf 23ed-23ef 23f1-23f2 23f8-23fa 24c2 "
    "25aa-25ab 25b6 25c0 25fb-25fc 2600-2604 260e 2611 2618 261d 2620 2622-2623 2626 262a 262e-262f 2638-263a "
    "2640 2642 265f-2660 2663 2665-2666 2668 267b 267e 2692 2694-2697 2699 269b-269c 26a0 26a7 26b0-26b1 26c8 "
    "26cf 26d1 26d3 26e9 26f0-26f1 26f4 26f7-26f9 2702 2708-2709 270c-270d 270f 2712 2714 2716 271d 2721 "
    "2733-2734 2744 2747 2763-2764 27a1 2934-2935 2b05-2b07 1f170-1f171 1f17e-1f17f 1f321 1f324-1f32c 1f336 "
    "1f37d 1f396-1f397 1f399-1f39b 1f39e-1f39f 1f3cb-1f3ce 1f3d4-1f3df 1f3f3 1f3f5 1f3f7 1f43f 1f441 1f4fd "
    "1f549-1f54a 1f56f-1f570 1f573-1f579 1f587 1f58a-1f58d 1f590 1f5a5 1f5a8 1f5b1-1f5b2 1f5bc 1f5c2-1f5c4 "
    "1f5d1-1f5d3 1f5dc-1f5de 1f5e1 1f5e3 1f5e8 1f5ef 1f5f3 1f5fa 1f6cb 1f6cd-1f6cf 1f6e0-1f6e5 1f6e9 1f6f0 "
    "1f6f3"
)


def _ranges(text: str) -> tuple[tuple[int, int], ...]:
    return tuple((int(a, 16), int(b or a, 16)) for a, _, b in (r.partition("-") for r in text.split()))


_WIDTH_RANGES = sorted([(a, b, 0) for a, b in _ranges(_ZERO_WIDTH)] + [(a, b, 2) for a, b in _ranges(_DOUBLE_WIDTH)])
_WIDTH_STARTS = [start for start, _, _ in _WIDTH_RANGES]  # bisected
_NARROW_TO_WIDE = frozenset(chr(c) for a, b in _ranges(_WIDE_WITH_VS16) for c in range(a, b + 1))
_ZWJ, _VS16 = "\u200d", "\ufe0f"  # zero width joiner; variation selector 16 (emoji presentation)
# characters known to take one column each (printable ASCII and Latin-1, dashes and the ellipsis, box drawing): text
# of them only is as wide as it is long and cut by slicing (a summary's lines for ASCII names); any other goes the
# long way
_ONE_COLUMN = re.compile("[ -~\xa0-\u02ff\u2010-\u2027\u2500-\u257f]*")


def _one_column(text: str) -> bool:
    """Whether every character of `text` is one known to take one column (so none joins or widens another)."""
    return _ONE_COLUMN.fullmatch(text) is not None


@functools.lru_cache(maxsize=4096)
def char_width(character: str) -> int:
    """Columns one character takes: 0 (controls, combining and format characters), 1, or 2 (CJK, emoji)."""
    code = ord(character)
    if 0 < code < 32 or 0x7F <= code < 0xA0:
        return 0
    i = bisect.bisect_right(_WIDTH_STARTS, code) - 1
    if i >= 0 and code <= _WIDTH_RANGES[i][1]:
        return _WIDTH_RANGES[i][2]
    return 1


def cell_width(text: str) -> int:
    """Columns `text` takes in a terminal, exactly as rich's `cell_len` counts them: wide characters (CJK, emoji)
    take two, marks and format characters none; a zero width joiner hides the character after it (the rest of an
    emoji sequence), and VS16 widens the character before it when that has a wide emoji form."""
    if _one_column(text):
        return len(text)
    if _ZWJ not in text and _VS16 not in text:
        return sum(map(char_width, text))
    total, last, i = 0, None, 0
    while i < len(text):
        character = text[i]
        if character == _ZWJ:
            i += 2
            continue
        if character == _VS16:
            total += last in _NARROW_TO_WIDE
            last = None
        elif width := char_width(character):
            last = character
            total += width
        i += 1
    return total


# --- a table cell as rich lays it out (Text.wrap with overflow "ellipsis", then the column's justify) --------
_WORD = re.compile(r"\s*\S+\s*")  # a word and the whitespace after it (the first also the whitespace before)


def _line_breaks(text: str, width: int, measure=cell_width) -> list[int]:
    """Where rich's divide_line breaks `text` (no folding): a word that does not fit starts a new line, and one
    longer than the cell gets a line of its own (cut later); `measure` counts columns (len for one-column text)."""
    breaks, used, start = [], 0, 0
    for word in _WORD.findall(text):  # the words follow one another from the start: each starts where the last ended
        length = measure(word.rstrip())
        if width - used >= length:
            used += measure(word)
        elif length > width or (used and start):
            if start:
                breaks.append(start)
            used = measure(word)
        start += len(word)
    return breaks


def _graphemes(text: str) -> list[tuple[int, int, int]]:
    """(start, end, columns) of each character with what attaches to it (marks, a joiner and the character it
    joins, VS16), as rich's split_graphemes divides text."""
    spans: list[list[int]] = []
    last, i = None, 0
    while i < len(text):
        character = text[i]
        if character in (_ZWJ, _VS16) and spans:
            if character == _ZWJ:
                i += 2 if i < len(text) - 1 else 1
            else:
                i += 1
                if last in _NARROW_TO_WIDE:
                    last = None
                    spans[-1][2] += 1
            spans[-1][1] = i
            continue
        width = 0 if character in (_ZWJ, _VS16) else char_width(character)
        if width or not spans:
            spans.append([i, i + 1, width])
            last = character if width else last
        else:
            spans[-1][1] = i + 1
        i += 1
    return [tuple(span) for span in spans]


def _crop(text: str, width: int) -> str:
    """`text` cut to `width` columns (rich's set_cell_size): a character that would straddle the cut becomes a space."""
    if width >= 0 and _one_column(text):
        return text[:width]
    if cell_width(text) <= width:
        return text
    used = 0
    for start, _, columns in _graphemes(text):
        if used == width:
            return text[:start]
        if used + columns > width:
            return text[:start] + " "
        used += columns
    return text


def _truncate(line: str, width: int, pad: bool = False) -> str:
    """rich's Text.truncate with overflow "ellipsis": too long, cut to `width` - 1 columns and '…'; else padded."""
    length = cell_width(line)
    if length > width:
        return _crop(line, width - 1) + "…"
    return line + " " * (width - length) if pad else line


def _cell_lines(text: str, width: int, right: bool = False) -> list[str]:
    """The lines of one table cell, each `width` columns wide, exactly as rich renders them in Keras's summary:
    words wrapped by display width, a line too long cut with '…', then justified."""
    if width > 0 and _one_column(text):
        return _plain_cell_lines(text, width, right)
    return [_justified(line, width, right) for line in _wrapped(text, _line_breaks(text, width), width)]


def _plain_cell_lines(text: str, width: int, right: bool) -> list[str]:
    """_cell_lines of one-column text in a width of at least 1: widths are lengths, cuts are slices."""
    if len(text) <= width:  # one line that fits (what _plain_line makes of it)
        return [text.rstrip().rjust(width) if right else text.ljust(width)]
    return [_plain_line(line, width, right) for line in _wrapped(text, _line_breaks(text, width, len), width)]


def _wrapped(text: str, breaks: list[int], width: int) -> list[str]:
    """`text` cut at `breaks`; rich strips the spaces that end a line only when it has more characters than columns."""
    lines = []
    for a, b in zip([0, *breaks], [*breaks, len(text)]):
        line = text[a:b]
        if len(line) > width:
            line = line[: len(line) - min(len(line) - len(line.rstrip()), len(line) - width)]
        lines.append(line)
    return lines


def _justified(line: str, width: int, right: bool) -> str:
    """One line of a cell cut with '…' if too long, justified, then padded (or cropped) to the cell's width."""
    if right:
        line = _truncate(line.rstrip(), width)
        line = " " * (width - cell_width(line)) + line
    else:
        line = _truncate(line, width, pad=True)
    return _fit(_truncate(line, width), width)  # the render pads (or crops) each line to the cell's width


def _plain_line(line: str, width: int, right: bool) -> str:
    """_justified for a line of one-column characters and a width of at least 1: the same cuts, by slicing."""
    if right:
        line = line.rstrip()
    if len(line) > width:
        return line[: width - 1] + "…"
    return line.rjust(width) if right else line.ljust(width)


def _fit(text: str, width: int) -> str:
    """rich's set_cell_size: `text` padded with spaces or cut to `width` columns."""
    length = cell_width(text)
    return text + " " * (width - length) if length < width else _crop(text, width)


def _padded(line: str, width: int) -> str:
    """A cell's line with its padding of one space each side, as the table fits it into `width` + 2 columns: a line
    still wider than the cell (a joiner that starts it hides a character from the count of its cut) loses its
    right padding first."""
    return f" {line} " if cell_width(line) <= width else " " + _fit(line, width + 1)


def _padded_cell(text: str, width: int, right: bool) -> tuple[str, ...]:
    """A cell's lines, each with its padding of a space each side."""
    if width > 0 and _one_column(text):  # its lines are exactly `width` long
        return tuple(f" {line} " for line in _plain_cell_lines(text, width, right))
    return tuple(_padded(line, width) for line in _cell_lines(text, width, right))


def summary_text(model, line_length=None) -> str:
    """The whole summary, lines joined by newlines with a trailing one (what print_fn receives)."""
    chain, rows = model.summary_rows()
    headers, positions, alignment, default = _CHAIN if chain else _GRAPH
    console = shutil.get_terminal_size().columns  # rich's console: a line wider than it is cut at its edge
    length = line_length or min(default, console - 4)
    edges = [0] + [int(p * length) for p in positions]
    widths = [b - a - cut for a, b, cut in zip(edges, edges[1:], _shrink(len(headers)))]
    right = [a == "right" for a in alignment]
    blanks = [_padded(" " * w, w) for w in widths]  # an empty line of a cell, padded

    def border(left, fill, mid, end):
        return left + mid.join(fill * (w + 2) for w in widths) + end

    def row(columns, bar, header=False):
        """A row's lines from its cells' lines (each padded)."""
        height = max(map(len, columns))
        if height > 1:  # rich aligns header cells with the bottom of the row, other cells with its top
            columns = [
                (blank,) * (height - len(column)) * header + column + (blank,) * (height - len(column)) * (not header)
                for column, blank in zip(columns, blanks)
            ]
        return [bar + bar.join(parts) + bar for parts in zip(*columns)]

    # each column's texts laid out once: a summary repeats its shapes and parameter counts
    laid_out = [
        {text: _padded_cell(text, w, r) for text in set(column)} for column, w, r in zip(zip(*rows), widths, right)
    ]
    header = row([_padded_cell(text, w, r) for text, w, r in zip(headers, widths, right)], "┃", header=True)
    lines = [f'Model: "{model.name}"', border("┏", "━", "┳", "┓"), *header, border("┡", "━", "╇", "┩")]
    between = border("├", "─", "┼", "┤")
    for i, cells in enumerate(rows):
        if i:
            lines.append(between)
        lines.extend(row([column[text] for column, text in zip(laid_out, cells)], "│"))
    lines.append(border("└", "─", "┴", "┘"))
    lines += [f" {label}: {n:,} ({readable_size(n)})" for label, n in param_totals(model.analysis)]
    return "\n".join(_crop(line, console) for line in lines) + "\n"


def param_totals(analysis) -> list[tuple[str, int]]:
    """Keras's three totals under the table: total, trainable, non-trainable parameters, summed over its rows (of a
    model that does not fit, the rows up to the failing layer, whose own weights are counted as its row shows)."""
    total = sum(report.params for report in analysis.layers)
    trainable = sum(report.trainable for report in analysis.layers)
    return [("Total params", total), ("Trainable params", trainable), ("Non-trainable params", total - trainable)]
