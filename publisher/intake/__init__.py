"""Post files in, stored posts out: the drop folder, the post-file format, media, acceptance."""
