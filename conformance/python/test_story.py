"""The official Python client (sunshine-conversations-client 17.0.1) against Sunbeam: one
story over apps, keys, users, conversations, participants, messages of every content type,
activities, integrations and webhooks. Every call goes through the client's typed methods,
so its pydantic models validate every response as they deserialise it; the story then checks
what the values mean. It runs twice: with the host as Sunbeam serves it, and with the host
ending in /sc, as a client configured for https://{subdomain}.zendesk.com/sc would call it."""

import base64
import hashlib
import hmac
import http.server
import json
import queue
import threading
import time
import urllib.request

import pytest
import sunshine_conversations_client as sc
from sunshine_conversations_client.exceptions import ApiException

HEX24 = r"^[0-9a-f]{24}$"
WAIT_S = 15


def client_for(host, key_id, secret):
    return sc.ApiClient(sc.Configuration(host=host, username=key_id, password=secret))


def content_of(message):
    """The typed content of a message (the client's oneOf wrapper holds it)."""
    return message.content.actual_instance


def hs256(key_id, secret, claims):
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key_id}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


class Receiver:
    """A local webhook target: records each JSON body it is sent and answers 200."""

    def __init__(self):
        self.bodies = queue.Queue()
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", "0"))
                received.put(({k.lower(): v for k, v in self.headers.items()}, json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def events(self, wanted, timeout=WAIT_S):
        """Events received (across deliveries) until `wanted(event)` holds for one; returns it."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                headers, body = self.bodies.get(timeout=0.2)
            except queue.Empty:
                continue
            for event in body["events"]:
                seen.append(event["type"])
                if wanted(event):
                    return headers, body, event
        raise AssertionError(f"no matching webhook event within {timeout}s; saw {seen}")

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.mark.parametrize("prefix", ["", "/sc"], ids=["v2", "sc-v2"])
def test_story(server, receiver, prefix):
    host = server.base_url + prefix
    account = client_for(host, server.key_id, server.key_secret)
    apps = sc.AppsApi(account)

    # ---- apps: create, get, list (paged), update ----
    created = apps.create_app(sc.AppCreateBody(
        display_name=f"Python story {prefix or 'root'}",
        metadata={"tier": "gold", "seats": 3},
        settings=sc.AppSettings(mask_credit_card_numbers=True),
    ))
    app = created.app
    assert isinstance(app, sc.App)
    assert app.id and len(app.id) == 24
    assert app.metadata == {"tier": "gold", "seats": 3}
    assert app.settings.mask_credit_card_numbers is True
    app_id = app.id
    fetched = apps.get_app(app_id)
    assert fetched.app.id == app_id and fetched.app.display_name == app.display_name
    apps.create_app(sc.AppCreateBody(display_name="Another app"))
    first = apps.list_apps(page=sc.Page(size=1))
    assert len(first.apps) == 1 and first.meta.has_more is True
    assert first.links.next.startswith(f"{host}/v2/apps?"), first.links.next
    second = apps.list_apps(page=sc.Page(after=first.meta.after_cursor, size=1))
    assert len(second.apps) == 1 and second.apps[0].id != first.apps[0].id
    assert second.links.prev.startswith(f"{host}/v2/apps?"), second.links.prev
    updated = apps.update_app(app_id, sc.AppUpdateBody(display_name="Renamed", metadata={"tier": "platinum"}))
    assert updated.app.display_name == "Renamed" and updated.app.metadata == {"tier": "platinum"}

    # ---- app keys: create, get, list; the new key works as app-scoped Basic auth ----
    keys = sc.AppKeysApi(account)
    key = keys.create_app_key(app_id, sc.AppKeyCreateBody(display_name="python")).key
    assert key.id.startswith("app_") and key.secret
    assert keys.get_app_key(app_id, key.id).key.id == key.id
    assert key.id in [k.id for k in keys.list_app_keys(app_id).keys]
    with_app_key = client_for(host, key.id, key.secret)
    assert sc.AppsApi(with_app_key).get_app(app_id).app.id == app_id

    # ---- users: create, get by externalId and by id, update ----
    users = sc.UsersApi(with_app_key)
    bob = users.create_user(app_id, sc.UserCreateBody(
        external_id="bob", profile=sc.Profile(given_name="Bob", surname="Builder", email="bob@example.org", locale="en-US"),
        metadata={"plan": "pro"},
    )).user
    assert bob.external_id == "bob" and bob.profile.given_name == "Bob"
    assert users.get_user(app_id, "bob").user.id == bob.id
    assert users.get_user(app_id, bob.id).user.external_id == "bob"
    bob = users.update_user(app_id, "bob", sc.UserUpdateBody(profile=sc.Profile(given_name="Robert"))).user
    assert bob.profile.given_name == "Robert"
    ann = users.create_user(app_id, sc.UserCreateBody(external_id="ann")).user

    # ---- conversations: create, get, update, list by the user's externalId (JSON filter and page) ----
    conversations = sc.ConversationsApi(with_app_key)
    personal = conversations.create_conversation(app_id, sc.ConversationCreateBody(
        type="personal",
        participants=[sc.ParticipantSubSchema(sc.ParticipantWithUserId(user_id=bob.id))],
        display_name="Bob's", metadata={"lang": "en"},
    )).conversation
    assert personal.type == "personal" and personal.display_name == "Bob's"
    group = conversations.create_conversation(app_id, sc.ConversationCreateBody(
        type="sdkGroup", participants=[sc.ParticipantSubSchema(sc.ParticipantWithUserExternalId(user_external_id="bob"))],
    )).conversation
    conversations.create_conversation(app_id, sc.ConversationCreateBody(
        type="sdkGroup", participants=[sc.ParticipantSubSchema(sc.ParticipantWithUserId(user_id=bob.id))],
    ))
    assert conversations.get_conversation(app_id, personal.id).conversation.id == personal.id
    renamed = conversations.update_conversation(app_id, group.id, sc.ConversationUpdateBody(display_name="Team")).conversation
    assert renamed.display_name == "Team"
    page1 = conversations.list_conversations(app_id, sc.ConversationListFilter(user_external_id="bob"), page=sc.Page(size=2))
    assert len(page1.conversations) == 2 and page1.meta.has_more is True
    assert page1.links.next.startswith(f"{host}/v2/apps/{app_id}/conversations?"), page1.links.next
    page2 = conversations.list_conversations(app_id, sc.ConversationListFilter(user_id=bob.id), page=sc.Page(after=page1.meta.after_cursor, size=2))
    assert len(page2.conversations) == 1 and page2.meta.has_more is False
    listed = {c.id for c in page1.conversations + page2.conversations}
    assert {personal.id, group.id} <= listed

    # ---- participants: join, list, leave ----
    participants = sc.ParticipantsApi(with_app_key)
    joined = participants.join_conversation(app_id, group.id, sc.ParticipantJoinBody(user_id=ann.id)).participant
    assert joined.user_id == ann.id
    members = participants.list_participants(app_id, group.id, page=sc.Page(size=10)).participants
    assert {p.user_id for p in members} == {bob.id, ann.id}
    participants.leave_conversation(app_id, group.id, sc.ParticipantLeaveBody(sc.ParticipantLeaveBodyUserExternalId(user_external_id="ann")))
    assert [p.user_id for p in participants.list_participants(app_id, group.id).participants] == [bob.id]

    # ---- integrations: a custom one with its webhook to the local receiver, and a web one ----
    integrations = sc.IntegrationsApi(account)
    custom = integrations.create_integration(app_id, sc.Custom(
        display_name="Python bot",
        webhooks=[sc.Webhook(target=receiver.url, triggers=["conversation:message"], include_full_user=True)],
    )).integration
    assert isinstance(custom, sc.Custom) and custom.type == "custom"
    assert custom.webhooks[0].target == receiver.url and custom.webhooks[0].secret
    web = integrations.create_integration(app_id, sc.Web(display_name="Website", brand_color="00ff00")).integration
    assert isinstance(web, sc.Web) and web.brand_color == "00ff00"
    assert integrations.get_integration(app_id, custom.id).integration.display_name == "Python bot"
    only_custom = integrations.list_integrations(app_id, filter=sc.IntegrationListFilter(types="custom")).integrations
    assert [i.id for i in only_custom] == [custom.id]
    assert len(integrations.list_integrations(app_id, page=sc.Page(size=10)).integrations) == 2
    renamed = integrations.update_integration(app_id, custom.id, sc.IntegrationUpdate(sc.CustomUpdate(display_name="Python bot 2")))
    assert renamed.integration.display_name == "Python bot 2"

    # ---- integration API keys ----
    integration_keys = sc.CustomIntegrationApiKeysApi(account)
    ikey = integration_keys.create_custom_integration_key(app_id, custom.id, sc.IntegrationApiKey(display_name="bot key")).key
    assert ikey.id.startswith("int_") and ikey.secret
    assert integration_keys.get_custom_integration_key(app_id, custom.id, ikey.id).key.id == ikey.id
    assert ikey.id in [k.id for k in integration_keys.list_custom_integration_keys(app_id, custom.id).keys]

    # ---- webhooks: list, get, a second one created, updated, deleted ----
    webhooks = sc.WebhooksApi(with_app_key)  # app or integration scope, as the spec says
    listed = webhooks.list_webhooks(app_id, custom.id).webhooks
    assert [w.id for w in listed] == [custom.webhooks[0].id]
    assert webhooks.get_webhook(app_id, custom.id, listed[0].id).webhook.target == receiver.url
    extra = webhooks.create_webhook(app_id, custom.id, sc.WebhookCreateBody(target=receiver.url + "/2", triggers=["conversation:read"])).webhook
    assert extra.triggers == ["conversation:read"] and extra.secret
    changed = webhooks.update_webhook(app_id, custom.id, extra.id, sc.WebhookBody(triggers=["conversation:read", "conversation:typing"])).webhook
    assert sorted(changed.triggers) == ["conversation:read", "conversation:typing"]
    webhooks.delete_webhook(app_id, custom.id, extra.id)
    assert len(webhooks.list_webhooks(app_id, custom.id).webhooks) == 1

    # ---- messages: every content type the business API posts ----
    messages = sc.MessagesApi(with_app_key)
    business = sc.Author(type="business", display_name="Support")
    link = sc.ActionSubset(sc.Link(type="link", text="Open", uri="https://example.org"))
    postback = sc.ActionSubset(sc.Postback(type="postback", text="Yes", payload="YES"))
    contents = [
        sc.TextMessage(type="text", text="Pick one", actions=[
            sc.Action(sc.Link(type="link", text="Open", uri="https://example.org")),
            sc.Action(sc.Postback(type="postback", text="Yes", payload="YES")),
            sc.Action(sc.Reply(type="reply", text="Maybe", payload="MAYBE")),
        ]),
        sc.ImageMessage(type="image", media_url="https://example.org/cat.jpg", alt_text="A cat"),
        sc.FileMessage(type="file", media_url="https://example.org/doc.pdf", alt_text="A document"),
        sc.CarouselMessage(type="carousel", items=[
            sc.Item(title="One", description="First", media_url="https://example.org/1.png", actions=[link]),
            sc.Item(title="Two", actions=[postback]),
        ]),
        sc.ListMessage(type="list", items=[sc.Item(title="A", actions=[link]), sc.Item(title="B", actions=[postback])]),
        sc.LocationMessage(type="location", coordinates=sc.LocationMessageCoordinates(lat=45.5, long=-73.6),
                           location=sc.LocationMessageLocation(name="Office", address="1 Main St")),
        sc.FormMessage(type="form", block_chat_input=True, fields=[
            sc.FormMessageField(type="text", name="name", label="Your name"),
            sc.FormMessageField(type="email", name="email", label="Your email"),
            sc.FormMessageField(type="select", name="size", label="Size", options=[
                sc.FormOptionsInner(name="s", label="Small"), sc.FormOptionsInner(name="l", label="Large")]),
        ]),
    ]
    posted = []
    for content in contents:
        response = messages.post_message(app_id, personal.id, sc.MessagePost(author=business, content=sc.Content(content)))
        message = response.messages[0]
        got = content_of(message)
        assert type(got) is type(content), f"{content.type} came back as {type(got).__name__}"
        assert message.author.type == "business" and message.author.display_name == "Support"
        posted.append(message)
    assert content_of(posted[0]).actions[2].actual_instance.payload == "MAYBE"
    assert content_of(posted[3]).items[1].actions[0].actual_instance.payload == "YES"
    assert content_of(posted[5]).coordinates.lat == 45.5
    assert [f.name for f in content_of(posted[6]).fields] == ["name", "email", "size"]
    template = messages.post_message(app_id, personal.id, sc.MessagePost(
        author=business, var_schema="whatsapp",
        content=sc.Content(sc.TemplateMessage(type="template", template={
            "namespace": "XXXXXXXX_XXXX_XXXX_XXXX_XXXXXXXXXXXX", "name": "hello_world",
            "language": {"policy": "deterministic", "code": "en_US"},
        })),
    )).messages[0]
    assert content_of(template).template["name"] == "hello_world"
    # A message from the user (by externalId), with metadata; card numbers masked as the app asks.
    from_bob = messages.post_message(app_id, personal.id, sc.MessagePost(
        author=sc.Author(type="user", user_external_id="bob"),
        content=sc.Content(sc.TextMessage(type="text", text="my card is 4242 4242 4242 4242")),
        metadata={"lang": "en"},
    )).messages[0]
    assert from_bob.author.user_id == bob.id and from_bob.metadata == {"lang": "en"}
    assert "4242 4242 4242 4242" not in content_of(from_bob).text
    # A formResponse only comes from the Web Messenger: the user answers the form through the
    # SDK API (as the widget would, with a user JWT), and the business reads it with the client.
    jwt = hs256(key.id, key.secret, {"scope": "user", "external_id": "bob"})
    answer = {"author": {"role": "appUser"}, "message": {"type": "formResponse", "fields": [
        {"type": "text", "name": "name", "label": "Your name", "text": "Bob"},
        {"type": "email", "name": "email", "label": "Your email", "email": "bob@example.org"},
    ]}}
    request = urllib.request.Request(
        f"{host}/sdk/v2/apps/{app_id}/conversations/{personal.id}/messages", data=json.dumps(answer).encode(), method="POST",
        headers={"authorization": f"Bearer {jwt}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as res:
        assert res.status == 201

    history = messages.list_messages(app_id, personal.id).messages
    kinds = [content_of(m).type for m in history]
    assert kinds == ["text", "image", "file", "carousel", "list", "location", "form", "template", "text", "formResponse"], kinds
    form_response = content_of(history[-1])
    assert isinstance(form_response, sc.FormResponseMessage)
    assert form_response.text_fallback == "Your name: Bob\nYour email: bob@example.org"
    older = messages.list_messages(app_id, personal.id, page=sc.Page(before=history[2].id)).messages
    assert [m.id for m in older] == [history[0].id, history[1].id]

    # The webhook saw the user's message, with the full user (includeFullUser), and the
    # payload fits the client's own event model.
    headers, body, event = receiver.events(lambda e: e["type"] == "conversation:message" and e["payload"]["message"]["id"] == from_bob.id)
    assert body["app"]["id"] == app_id and body["webhook"]["id"] == custom.webhooks[0].id
    typed = sc.ConversationMessageEvent.from_dict(event)
    assert typed.payload.conversation.id == personal.id
    assert typed.payload.message.author.user_id == bob.id
    assert event["payload"]["message"]["author"]["user"]["externalId"] == "bob"
    assert headers.get("x-api-key") == custom.webhooks[0].secret

    # ---- activities ----
    activities = sc.ActivitiesApi(with_app_key)
    activities.post_activity(app_id, personal.id, sc.ActivityPost(type="typing:start", author=business))
    activities.post_activity(app_id, personal.id, sc.ActivityPost(type="typing:stop", author=business))
    activities.post_activity(app_id, personal.id, sc.ActivityPost(type="conversation:read", author=sc.Author(type="user", user_id=bob.id)))

    # ---- deletes, and the errors the client raises for what is gone ----
    messages.delete_message(app_id, personal.id, posted[1].id)
    assert len(messages.list_messages(app_id, personal.id).messages) == len(history) - 1
    messages.delete_all_messages(app_id, personal.id)
    assert messages.list_messages(app_id, personal.id).messages == []
    integration_keys.delete_custom_integration_key(app_id, custom.id, ikey.id)
    integrations.delete_integration(app_id, web.id)
    conversations.delete_conversation(app_id, group.id)
    users.delete_user_personal_information(app_id, "ann")
    users.delete_user(app_id, "ann")
    with pytest.raises(ApiException) as gone:
        users.get_user(app_id, "ann")
    assert gone.value.status == 404
    assert json.loads(gone.value.body)["errors"][0]["code"] == "user_not_found"
    keys.delete_app_key(app_id, key.id)
    with pytest.raises(ApiException) as revoked:
        sc.AppsApi(with_app_key).get_app(app_id)
    assert revoked.value.status == 401
    apps.delete_app(app_id)
    with pytest.raises(ApiException) as deleted:
        apps.get_app(app_id)
    assert deleted.value.status == 404
    assert json.loads(deleted.value.body)["errors"][0]["code"] == "app_not_found"


def test_the_client_reaches_sc_v2_apps_as_v2_apps(server):
    """The drop-in claim, directly: the same account, two hosts, the same answer."""
    plain = sc.AppsApi(client_for(server.base_url, server.key_id, server.key_secret))
    prefixed = sc.AppsApi(client_for(server.base_url + "/sc", server.key_id, server.key_secret))
    plain.create_app(sc.AppCreateBody(display_name="Seen from both"))
    a = plain.list_apps_with_http_info(page=sc.Page(size=100))
    b = prefixed.list_apps_with_http_info(page=sc.Page(size=100))
    assert a.status_code == b.status_code == 200
    assert a.data.apps == b.data.apps and a.data.meta == b.data.meta
    assert "Seen from both" in [x.display_name for x in b.data.apps]
