"""Slack mrkdwn and Block Kit as HTML: what the stand-in page and the console draw."""

from __future__ import annotations

from standins.blockkit import mrkdwn, render_message


def test_mrkdwn_styles_links_mentions_and_emoji_and_escapes_everything_else():
    html = mrkdwn(
        "*Bold* _it_ ~gone~ `x<y` <https://a.example/?q=1&amp;r=2|the desk> <!channel> :fire: <script>"
    )
    assert "<b>Bold</b> <i>it</i> <s>gone</s> <code>x&lt;y</code>" in html
    assert '<a href="https://a.example/?q=1&amp;r=2" rel="noopener">the desk</a>' in html
    assert '<span class="mention">@channel</span>' in html and "🔥" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_slack_entities_are_decoded_once_and_unsafe_links_stay_text():
    assert str(mrkdwn("a &amp;lt; b &lt;b&gt;")) == "a &amp;lt; b &lt;b&gt;"
    assert "<a" not in mrkdwn("<javascript:alert(1)|click>")


def test_a_message_without_blocks_shows_its_text():
    assert "<b>hi</b>" in render_message({"text": "*hi*"})
