"""HTML pages that a proxy or gateway in front of the vendor answers with instead of JSON.

A client that classifies creates must survive them: a 504 page after the vendor
created the task, a 500 page before it did, and a 200 page (a login or
bot-check page from a middlebox) where the task JSON should be.
"""

from __future__ import annotations

MEDIA_TYPE = "text/html"


def _page(title: str, text: str) -> str:
    """Return a minimal HTML page in the shape a reverse proxy serves."""
    return (
        "<html>\r\n"
        f"<head><title>{title}</title></head>\r\n"
        "<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n"
        f"<p>{text}</p>\r\n"
        "<hr><center>gateway</center>\r\n"
        "</body>\r\n"
        "</html>\r\n"
    )


#: The gateway gave up waiting for the vendor, which went on and created the task.
GATEWAY_TIMEOUT = _page("504 Gateway Time-out", "The upstream server did not answer in time.")

#: The gateway failed before the request reached the vendor.
INTERNAL_SERVER_ERROR = _page("500 Internal Server Error", "The server encountered an error.")

#: A middlebox answered 200 with its own page where the vendor's JSON should be.
CHECK_PAGE = _page("Checking your connection", "Please wait while your request is verified.")
