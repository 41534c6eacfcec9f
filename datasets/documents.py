"""Document recipes: the loaders live in the package (``crbm.documents``); this module re-exports them."""

from crbm.documents import load_bag_of_words, raw_archive, tokenize_20news, tokenize_reuters

__all__ = ["load_bag_of_words", "raw_archive", "tokenize_20news", "tokenize_reuters"]
