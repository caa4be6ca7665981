"""Synthetic web pages for the tests, written by us: a news page with a headline, byline,
date and site name around navigation and a footer; a login form; an index of links."""

BODY = ("<p>The two presidents spoke for ninety minutes on Thursday, officials said, in their first call "
        "in seven months.</p><p>Both sides described the conversation as candid. Washington said it wanted "
        "guardrails; Beijing said the relationship faced serious difficulties.</p><p>Analysts said the call "
        "was unlikely to change much soon, but it kept channels of communication open.</p>")


def news_page(headline="Leaders talk by phone", date="2021-09-10T08:00:00Z", body=BODY, charset="utf-8") -> str:
    return (f'<html><head><meta charset="{charset}"><title>{headline} | Daily Ledger</title>'
            '<meta property="og:site_name" content="Daily Ledger"><meta name="author" content="Jane Roe">'
            f'<meta property="article:published_time" content="{date}"></head><body>'
            '<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/login">Sign in</a></nav>'
            f"<article><h1>{headline}</h1>{body}</article><footer>Copyright 2021 Daily Ledger</footer></body></html>")


LOGIN = ("<html><head><title>Sign in</title></head><body><form><label>Username</label><input name=u>"
         "<label>Password</label><input name=p type=password><button>Log in</button></form></body></html>")
INDEX = "<html><body><ul>" + "".join(f'<li><a href="/a{i}">Story {i}</a></li>' for i in range(8)) + "</ul></body></html>"
