"""Canonical Huffman coding of cluster indices and index gaps (Deep Compression §4).

Deep Compression codes each layer's cluster indices and relative-index gaps with separate Huffman
codes, one pair per layer. Codes here are *canonical* (the ordering of DEFLATE, RFC 1951 §3.2.2):
shorter codes come first, codes of one length are consecutive integers in symbol order. So a code
table is fully described by its code lengths, and that is all a file needs to store.

Conventions:

- An alphabet is ``0 .. len(lengths) - 1`` (at most 65536 symbols); ``lengths[s] == 0`` means
  ``s`` does not occur and has no code. Encoding such a symbol is a ``ValueError``.
- Code lengths are limited to ``max_length <= MAX_CODE_LENGTH`` (16) bits. ``code_lengths``
  builds them with package-merge (Larmore & Hirschberg 1990), which gives an *optimal*
  length-limited prefix code (minimum total bits among all prefix codes whose lengths respect the
  limit), equal in cost to plain Huffman whenever the limit does not bind. Ties are broken by
  symbol value, so the construction is deterministic.
- Kraft: a valid table has sum(2**-l) <= 1 over present symbols; the tables built here are
  complete (== 1) whenever two or more symbols occur.
- One distinct symbol: it gets length 1 (code ``0``), so every occurrence costs one bit and the
  Kraft sum is 1/2. This keeps "length 0 = absent" unambiguous, and every coded symbol taking at
  least one bit lets a reader check ``n_symbols <= n_bits`` before it allocates anything.
- Empty stream: all frequencies zero gives all lengths zero; encoding no symbols gives an empty
  payload and 0 bits; decoding 0 symbols needs no table.
- Bit order: most significant bit first, the first code in the top bits of byte 0, the last byte
  padded with zero bits (see ``_kernels.py``). The decoder is one lookup table of
  ``2**longest`` entries indexed by the next ``longest`` bits (at most 65536 entries, 256 KiB).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from deepzip.core import _kernels

MAX_CODE_LENGTH = 16
"""Longest code length any table may use (it bounds the decoder's lookup table)."""

DEFAULT_MAX_LENGTH = 12
"""Default length limit for ``code_lengths``: decoding tables of at most 4096 entries (16 KiB)."""

MAX_ALPHABET = 1 << 16
"""Symbols are uint8 or uint16."""


def code_lengths(frequencies: np.ndarray, max_length: int = DEFAULT_MAX_LENGTH) -> np.ndarray:
    """Optimal length-limited code lengths for the given symbol frequencies (package-merge).

    Args:
        frequencies: non-negative integer counts, ``(alphabet,)``; symbol ``s`` has count
            ``frequencies[s]``. Zero count means absent (length 0).
        max_length: longest code allowed, 1 .. ``MAX_CODE_LENGTH``; must leave room for the
            alphabet, ``2**max_length >= number of present symbols``.

    Returns:
        uint8 ``(alphabet,)`` code lengths: 0 for absent symbols, 1 for a lone present symbol,
        otherwise a complete code (Kraft sum exactly 1) of minimum total length.
    """
    freq = np.asarray(frequencies)
    if freq.ndim != 1:
        raise ValueError(f"frequencies must be 1-D, got shape {freq.shape}")
    if freq.size > MAX_ALPHABET:
        raise ValueError(f"alphabet has {freq.size} symbols, more than {MAX_ALPHABET}")
    if freq.size and not np.issubdtype(freq.dtype, np.integer):
        raise ValueError(f"frequencies must be integers, got {freq.dtype}")
    if np.any(freq < 0):
        raise ValueError("frequencies must be non-negative")
    if not 1 <= max_length <= MAX_CODE_LENGTH:
        raise ValueError(f"max_length must be in 1..{MAX_CODE_LENGTH}, got {max_length}")
    freq = freq.astype(np.int64)
    lengths = np.zeros(freq.size, dtype=np.uint8)
    present = np.flatnonzero(freq)
    n = present.size
    if n == 0:
        return lengths
    if n == 1:
        lengths[present[0]] = 1
        return lengths
    if n > 1 << max_length:
        raise ValueError(f"{n} symbols do not fit in codes of at most {max_length} bits")

    # Leaves sorted by (count, symbol). Package-merge: at each level from the deepest up, pair the
    # previous level's items into packages and merge them with the leaves (leaves first on ties).
    order = present[np.argsort(freq[present], kind="stable")]
    leaves = freq[order]
    level_is_leaf = [np.ones(n, dtype=bool)]
    items = leaves
    for _ in range(max_length - 1):
        packages = items[0 : len(items) // 2 * 2 : 2] + items[1 : len(items) // 2 * 2 : 2]
        merged = np.concatenate([leaves, packages])
        sort = np.argsort(merged, kind="stable")
        items = merged[sort]
        level_is_leaf.append(sort < n)
    # Take the 2n - 2 cheapest items of the top level; every leaf taken at a level adds one bit to
    # that symbol's length. Leaves are taken lightest first, so only counts are needed.
    taken = 2 * n - 2
    depth = np.zeros(n, dtype=np.int64)
    for is_leaf in reversed(level_is_leaf):
        n_leaves = int(np.count_nonzero(is_leaf[:taken]))
        depth[:n_leaves] += 1
        taken = 2 * (taken - n_leaves)
    lengths[order] = depth
    return lengths


def kraft_sum(lengths: np.ndarray) -> Fraction:
    """Exact Kraft sum, sum of 2**-l over the present symbols (l > 0)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    counts = np.bincount(lengths[lengths > 0], minlength=MAX_CODE_LENGTH + 1)
    return sum((Fraction(int(c), 1 << length) for length, c in enumerate(counts) if c), Fraction(0))


def validate_lengths(lengths: np.ndarray) -> np.ndarray:
    """Check a code-length table and return it as uint8.

    Raises ``ValueError`` unless it is 1-D, has at most ``MAX_ALPHABET`` entries, every length is
    in 0..``MAX_CODE_LENGTH``, and the Kraft sum is at most 1.
    """
    arr = np.asarray(lengths)
    if arr.ndim != 1:
        raise ValueError(f"code lengths must be 1-D, got shape {arr.shape}")
    if arr.size > MAX_ALPHABET:
        raise ValueError(f"alphabet has {arr.size} symbols, more than {MAX_ALPHABET}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"code lengths must be integers, got {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > MAX_CODE_LENGTH):
        raise ValueError(
            f"code lengths must be in 0..{MAX_CODE_LENGTH}, got {arr.min()}..{arr.max()}"
        )
    total = kraft_sum(arr)
    if total > 1:
        raise ValueError(f"code lengths violate Kraft's inequality: sum 2**-l = {total} > 1")
    return arr.astype(np.uint8)


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code of every symbol (uint32, ``lengths.shape``; 0 where the length is 0).

    Shorter codes come first; codes of one length are consecutive in symbol order. The code of
    ``s`` is the integer value of its ``lengths[s]`` bits, most significant bit first.
    """
    lengths = validate_lengths(lengths)
    codes = np.zeros(lengths.size, dtype=np.uint32)
    first = _first_codes(lengths)
    for length in range(1, MAX_CODE_LENGTH + 1):
        symbols = np.flatnonzero(lengths == length)
        codes[symbols] = first[length] + np.arange(symbols.size, dtype=np.uint32)
    return codes


def _first_codes(lengths: np.ndarray) -> list[int]:
    """First canonical code of each length (index = length), RFC 1951 §3.2.2 step 2."""
    count = np.bincount(lengths, minlength=MAX_CODE_LENGTH + 1)
    count[0] = 0
    first, code = [0] * (MAX_CODE_LENGTH + 1), 0
    for length in range(1, MAX_CODE_LENGTH + 1):
        code = (code + int(count[length - 1])) << 1
        first[length] = code
    return first


def _padded_table(lengths: np.ndarray, size: int) -> np.ndarray:
    """``lengths`` padded with zeros to ``size`` entries, so any symbol value indexes it."""
    out = np.zeros(size, dtype=lengths.dtype)
    out[: lengths.size] = lengths
    return out


def huffman_encode(symbols: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, int]:
    """Encode ``symbols`` with the canonical code of ``lengths``.

    Args:
        symbols: uint8 or uint16 ``(n,)``.
        lengths: the code-length table (see ``code_lengths``).

    Returns:
        ``(payload, n_bits)``: uint8 ``(ceil(n_bits / 8),)``, most significant bit first, the last
        byte padded with zero bits; and the exact number of coded bits.

    Raises:
        ValueError: on a bad table, or a symbol without a code (outside the alphabet or length 0).
    """
    symbols = np.ascontiguousarray(symbols)
    if symbols.ndim != 1 or symbols.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"symbols must be 1-D uint8 or uint16, got {symbols.dtype} {symbols.shape}"
        )
    lengths = validate_lengths(lengths)
    size = 256 if symbols.dtype == np.uint8 else MAX_ALPHABET
    if lengths.size > size:
        # Symbols of a narrower dtype cannot reach the rest of the alphabet; drop it.
        lengths = lengths[:size]
    table_lengths = _padded_table(lengths, size)
    table_codes = _padded_table(canonical_codes(lengths), size)
    n_bits = int(_kernels.huffman_count_bits(symbols, table_lengths))
    if n_bits < 0:
        i = -1 - n_bits
        raise ValueError(f"symbol {int(symbols[i])} at position {i} has no code (length 0)")
    payload = np.empty((n_bits + 7) // 8, dtype=np.uint8)
    _kernels.huffman_encode(symbols, table_codes, table_lengths, payload)
    return payload, n_bits


def _decode_table(lengths: np.ndarray) -> tuple[np.ndarray, int]:
    """Lookup table ``symbol << 8 | length`` indexed by the next ``longest`` bits."""
    longest = int(lengths.max())
    present = np.flatnonzero(lengths)
    # Canonical order = sorted by (length, symbol): consecutive code ranges from 0 upward.
    order = present[np.lexsort((present, lengths[present]))]
    entry = (order.astype(np.uint32) << np.uint32(8)) | lengths[order].astype(np.uint32)
    span = np.left_shift(1, longest - lengths[order].astype(np.int64))
    table = np.zeros(1 << longest, dtype=np.uint32)
    filled = np.repeat(entry, span)
    table[: filled.size] = filled  # the rest (an incomplete code) stays 0 = no code starts here
    return table, longest


def huffman_decode(
    payload: np.ndarray, n_symbols: int, lengths: np.ndarray, n_bits: int | None = None
) -> np.ndarray:
    """Decode ``n_symbols`` symbols from a payload written by ``huffman_encode``.

    Args:
        payload: uint8 ``(m,)`` (or ``bytes``).
        n_symbols: how many symbols to decode.
        lengths: the code-length table the payload was encoded with.
        n_bits: the exact coded length if known (checked: the symbols must use exactly this many
            bits); ``None`` accepts any length that fits in the payload.

    Returns:
        ``(n_symbols,)`` symbols, uint8 when the alphabet has at most 256 symbols, else uint16.

    Raises:
        ValueError: on a bad table, a bit pattern that is no code, or a payload too short.
    """
    if isinstance(payload, (bytes, bytearray, memoryview)):
        payload = np.frombuffer(payload, dtype=np.uint8)
    payload = np.asarray(payload)
    if payload.ndim != 1 or payload.dtype != np.uint8:
        raise ValueError(f"payload must be 1-D uint8, got {payload.dtype} {payload.shape}")
    lengths = validate_lengths(lengths)
    dtype = np.uint8 if lengths.size <= 256 else np.uint16
    if n_symbols < 0:
        raise ValueError(f"n_symbols must be >= 0, got {n_symbols}")
    limit = 8 * payload.size if n_bits is None else n_bits
    if not 0 <= limit <= 8 * payload.size:
        raise ValueError(f"n_bits {n_bits} does not fit in a payload of {payload.size} bytes")
    if n_symbols == 0:
        if n_bits not in (None, 0):
            raise ValueError(f"0 symbols take 0 bits, not {n_bits}")
        return np.empty(0, dtype=dtype)
    if not lengths.size or lengths.max() == 0:
        raise ValueError(f"cannot decode {n_symbols} symbols with an empty code table")
    # Every code is at least one bit long, so the payload bounds the count before allocating.
    if n_symbols > limit:
        raise ValueError(f"{n_symbols} symbols need at least {n_symbols} bits, have {limit}")
    out = np.empty(n_symbols, dtype=dtype)
    table, longest = _decode_table(lengths)
    padded = np.zeros(payload.size + 8, dtype=np.uint8)
    padded[: payload.size] = payload
    used = int(_kernels.huffman_decode(padded, limit, table, longest, out))
    if used < 0:
        raise ValueError("payload holds a bit pattern that is no code, or is too short")
    if n_bits is not None and used != n_bits:
        raise ValueError(f"{n_symbols} symbols used {used} bits, the payload says {n_bits}")
    return out


def _reference_code_words(lengths: np.ndarray) -> dict[int, str]:
    """Canonical code words by their definition, as bit strings keyed by symbol.

    In (length, symbol) order, each code is the previous one plus one, shifted left by the growth
    in length; the first is all zeros.
    """
    order = sorted((int(n), s) for s, n in enumerate(np.asarray(lengths)) if n > 0)
    words, code, previous = {}, -1, 0
    for length, s in order:
        code = (code + 1) << (length - previous)
        previous = length
        words[s] = format(code, f"0{length}b")
    return words


def huffman_encode_reference(symbols: np.ndarray, lengths: np.ndarray) -> tuple[bytes, int]:
    """Slow, obvious encoder: a Python bit string of each symbol's canonical code."""
    words = _reference_code_words(lengths)
    bits = []
    for s in np.asarray(symbols).tolist():
        if s not in words:
            raise ValueError(f"symbol {s} has no code")
        bits.append(words[s])
    stream = "".join(bits)
    padded = stream + "0" * (-len(stream) % 8)
    return bytes(int(padded[i : i + 8], 2) for i in range(0, len(padded), 8)), len(stream)


def huffman_decode_reference(payload: bytes, n_symbols: int, lengths: np.ndarray) -> np.ndarray:
    """Slow, obvious decoder: read bits one at a time until they spell a code."""
    code_of = {word: s for s, word in _reference_code_words(lengths).items()}
    stream = "".join(format(b, "08b") for b in bytes(payload))
    out, word = [], ""
    for bit in stream:
        if len(out) == n_symbols:
            break
        word += bit
        if word in code_of:
            out.append(code_of[word])
            word = ""
    if len(out) != n_symbols:
        raise ValueError("payload ended before all symbols were decoded")
    return np.array(out, dtype=np.int64)


def entropy_bits(symbols: np.ndarray) -> float:
    """Empirical entropy of a symbol stream, in bits per symbol (0 for an empty stream)."""
    counts = np.bincount(np.asarray(symbols).ravel())
    counts = counts[counts > 0]
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())
