"""Drives mock-upstream with the official `openai` Python SDK.

Usage: python3 openai_sdk_check.py BASE_URL   (e.g. http://127.0.0.1:PORT, no /v1)

Checks a chat call, a streamed chat call with usage, an embeddings call, and that the SDK
honours an injected 429's retry-after (measuring the delay). Exits non-zero on any failure
and prints one JSON line of findings.
"""

import json
import sys
import time
import urllib.request


def put_faults(base, config):
    req = urllib.request.Request(
        base + "/_mock/faults",
        data=json.dumps(config).encode(),
        method="PUT",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.status


def main():
    base = sys.argv[1].rstrip("/")
    try:
        import openai
    except ImportError as e:
        print(f"FAIL: cannot import openai ({e}); run `pip install openai`", file=sys.stderr)
        sys.exit(3)

    client = openai.OpenAI(base_url=base + "/v1", api_key="sk-mock", max_retries=0, timeout=20)
    found = {"sdk_version": openai.__version__}

    chat = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert chat.choices[0].message.role == "assistant", chat
    assert chat.choices[0].message.content, chat
    assert chat.usage.completion_tokens > 0 and chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens, chat.usage
    found["chat_content"] = chat.choices[0].message.content

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    streamed = "".join(parts)
    assert streamed == chat.choices[0].message.content, (streamed, chat.choices[0].message.content)
    assert usage is not None and usage.completion_tokens == chat.usage.completion_tokens, usage
    assert finish == "stop", finish
    found["stream_chunks"] = len(parts)

    emb = client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 1536, len(emb.data)
    norm = sum(x * x for x in emb.data[0].embedding) ** 0.5
    assert abs(norm - 1.0) < 1e-3, norm
    assert emb.usage.prompt_tokens > 0
    found["embedding_dim"] = len(emb.data[0].embedding)

    # An injected 429 for the first second, advertising retry-after 1.5 s: the SDK must wait
    # that long before its retry, which then lands after the phase and succeeds.
    put_faults(base, {"retry_after": "1500ms", "schedule": [{"start": "0s", "end": "1s", "errors": {"429": 1.0}}]})
    retrying = openai.OpenAI(base_url=base + "/v1", api_key="sk-mock", max_retries=2, timeout=20)
    t0 = time.monotonic()
    raw = retrying.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "retry me"}]
    )
    took = time.monotonic() - t0
    assert raw.http_response.status_code == 200, raw.http_response.status_code
    assert raw.retries_taken == 1, raw.retries_taken
    assert 1.4 <= took < 6.0, f"retry waited {took:.2f}s, expected about 1.5s"
    found["retry_delay_s"] = round(took, 3)
    found["retries_taken"] = raw.retries_taken
    print(json.dumps(found))


if __name__ == "__main__":
    main()
