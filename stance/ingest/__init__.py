"""Ingest: articles in (files, exports, web pages and archives, fetched URL lists), checked and
split into sentences as a corpus. The first stage of the loop; it imports no other stage."""
