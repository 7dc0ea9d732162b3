"""Drives mock-upstream with the official `openai` Python SDK.

Usage: python3 openai_sdk_check.py BASE_URL   (e.g. http://127.0.0.1:PORT, no /v1)

Checks a chat call, a streamed chat call with usage, an embeddings call, the Responses API
(`responses.create` plain and streamed, with reasoning), typed errors (400 on Responses, an
in-stream Chat error), and that the SDK honours an injected 429's retry-after (measuring the delay). Exits non-zero on any failure
and prints one JSON line of findings.
"""

import json
import sys
import time

from mock_control import import_sdk, put_faults


def main():
    base = sys.argv[1].rstrip("/")
    openai = import_sdk("openai")

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

    # The Responses API, with 4 reasoning tokens before a 9-token answer.
    put_faults(base, {"seed": 7, "output_tokens": 9, "reasoning": {"tokens": 4}})
    ask = dict(model="gpt-4o-mini", instructions="Be brief.", input="Say hello")
    resp = client.responses.create(**ask)
    assert resp.status == "completed", resp
    assert [item.type for item in resp.output] == ["reasoning", "message"], resp.output
    assert resp.output[0].summary[0].text, resp.output[0]
    assert resp.output_text, resp
    u = resp.usage
    assert u.output_tokens == 13 and u.output_tokens_details.reasoning_tokens == 4, u
    assert u.total_tokens == u.input_tokens + u.output_tokens and u.input_tokens > 0, u
    found["responses_text"] = resp.output_text

    deltas, reasoning, final = [], [], None
    for event in client.responses.create(stream=True, **ask):
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        elif event.type == "response.reasoning_summary_text.delta":
            reasoning.append(event.delta)
        elif event.type == "response.completed":
            final = event.response
    assert "".join(deltas) == resp.output_text, (deltas, resp.output_text)
    assert "".join(reasoning) == resp.output[0].summary[0].text, reasoning
    assert final is not None and final.usage.output_tokens == u.output_tokens, final
    assert final.usage.input_tokens == u.input_tokens, final.usage
    assert final.output_text == resp.output_text
    found["responses_stream_deltas"] = len(deltas)

    # Errors reach the caller as the SDK's typed exceptions.
    put_faults(base, {"errors": {"400": 1.0}})
    try:
        client.responses.create(**ask)
        raise AssertionError("expected a 400")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.code == "context_length_exceeded", (e.status_code, e.code)
    put_faults(base, {"faults": {"stream_error": 1.0}})
    try:
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
        raise AssertionError("expected an in-stream error")
    except openai.APIError as e:
        assert e.type == "server_error", e
    events = [e.type for e in client.responses.create(stream=True, **ask)]
    assert events[-1] == "error" and "response.completed" not in events, events
    found["typed_errors"] = True

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
