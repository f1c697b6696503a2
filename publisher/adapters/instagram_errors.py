"""Instagram's Graph error codes and subcodes, for its adapter: what each means for a post or the account.

The error object and the codes every Graph API shares are read in ``graph.py``; these are Instagram's own,
from https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes
"""

from __future__ import annotations

from publisher.adapters.graph import GraphCodes

CODES = GraphCodes(
    token_field="access_token",
    token_fix="the access token is invalid or has expired — create a new token (a system user's, which "
    "does not expire) and set {variable}",
    permission_fix="the token may not publish to this Instagram account — it needs instagram_basic, "
    "instagram_content_publish and pages_read_engagement, from a person (or system user) with the "
    "CREATE_CONTENT task on the linked Facebook Page",
    rejected={
        2207051: "Instagram restricted this post as possible spam — review the text and try later by hand",
        2207004: "the picture is too large for Instagram (at most 8 MB)",
        2207005: "Instagram does not take this picture format (use JPEG)",
        2207009: "the picture's aspect ratio is outside what Instagram takes (4:5 to 1.91:1)",
        2207010: "the caption is too long for Instagram (2,200 characters, 30 hashtags, 20 mentions)",
        2207026: "Instagram does not take this video (see the Reels specification)",
        2207052: "Instagram could not fetch the media from its public address — run publisher check",
        2207023: "Instagram does not know this media type",
    },
    # 9/2207042: "You reached maximum number of posts that is allowed to be published by Content
    # Publishing API" — the 24-hour publishing limit; 80002: too many calls to this Instagram account.
    rate={2207042: "account", 80002: "account"},
    # Not applied, try again: server error, media download timeout, expired container, creation failed,
    # media not ready for publishing.
    transient=frozenset({2207001, 2207003, 2207020, 2207032, 2207027, 2207053}),
    throttle_scope="account",
)
