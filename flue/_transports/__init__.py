"""HTTP transports: the only modules that import `requests` or `aiohttp`.

Both expose the same method names (`open`, `read_chunk`, `read_all`, `close`, `abort`,
`sleep`) so that the generated sync client differs from the async one only by `await`. Each
flavour maps its library's failures into `flue.errors` in a companion module
(`_requests_errors`, `_aiohttp_errors`).
"""
