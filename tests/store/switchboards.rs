//! Switchboards in the store, on both databases: the one-per-app rule and the integration
//! rules under concurrency, control state on conversations, and transitions serialised
//! per conversation (of concurrent passes exactly one wins; the others see its result).

use serde_json::json;
use sunbeam::domain::app::new_app;
use sunbeam::domain::conversation::parse_new_conversation;
use sunbeam::domain::error::{DomainError, Resource};
use sunbeam::domain::event::{Event, Trigger};
use sunbeam::domain::ids::new_id;
use sunbeam::domain::integration::new_integration;
use sunbeam::domain::message::parse_message_post;
use sunbeam::domain::switchboard::{
    parse_control, parse_new_switchboard_integration, parse_switchboard_integration_update, parse_switchboard_update, ActionKind, ControlRequest,
};
use sunbeam::store::{Store, StoreError};

use crate::{is_not_found, is_rule};

struct Setup {
    app: String,
    switchboard: String,
    /// (integration id, switchboard integration id) of bot, agent, human.
    bot: (String, String),
    agent: (String, String),
    human: (String, String),
}

async fn integration(store: &Store, app: &str, name: &str) -> String {
    let body = json!({"type": "custom", "displayName": name, "webhooks": [{"target": format!("https://example.com/{name}"), "triggers": ["conversation:message"]}]});
    let (i, w) = new_integration(new_id(), new_id(), body).unwrap();
    store.create_integration(app, i, w).await.unwrap().id
}

/// bot (default) → agent → human → bot, enabled.
async fn setup(store: &Store) -> Setup {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "Desk"})).unwrap()).await.unwrap().id;
    let sb = store.create_switchboard(&app).await.unwrap();
    let mut linked = Vec::new();
    for name in ["human", "agent", "bot"] {
        let iid = integration(store, &app, name).await;
        let mut body = json!({"name": name, "integrationId": iid, "deliverStandbyEvents": false});
        if let Some((_, next)) = linked.last() {
            body["nextSwitchboardIntegrationId"] = json!(next);
        }
        let s = store.create_switchboard_integration(&app, &sb.id, parse_new_switchboard_integration(body).unwrap()).await.unwrap();
        linked.push((iid, s.id));
    }
    let bot = linked.pop().unwrap();
    let agent = linked.pop().unwrap();
    let human = linked.pop().unwrap();
    let back_to_bot = parse_switchboard_integration_update(json!({"nextSwitchboardIntegrationId": bot.1})).unwrap();
    store.update_switchboard_integration(&app, &sb.id, &human.1, back_to_bot).await.unwrap();
    store.update_switchboard(&app, &sb.id, parse_switchboard_update(json!({"enabled": true, "defaultSwitchboardIntegrationId": bot.1})).unwrap()).await.unwrap();
    Setup { app, switchboard: sb.id, bot, agent, human }
}

async fn conversation(store: &Store, app: &str) -> String {
    store.create_conversation(app, parse_new_conversation(json!({"type": "sdkGroup"}), 10).unwrap()).await.unwrap().0.id
}

fn request(kind: ActionKind, body: serde_json::Value) -> ControlRequest {
    parse_control(kind, body).unwrap()
}

async fn active(store: &Store, app: &str, c: &str) -> Option<String> {
    store.get_conversation(app, c).await.unwrap().control.active_switchboard_integration.map(|a| a.name)
}

/// The switchboard events recorded for conversation `c`, as (trigger, active name).
async fn control_events(store: &Store, app: &str, c: &str) -> Vec<(Trigger, Option<String>)> {
    store
        .events_after(app, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.trigger().as_str().starts_with("switchboard:") && e.event.conversation().is_some_and(|r| r.id == c))
        .map(|e| (e.trigger(), e.event.conversation().unwrap().control.active_switchboard_integration.as_ref().map(|a| a.name.clone())))
        .collect()
}

async fn configuration(store: &Store) {
    let s = setup(store).await;
    // One switchboard per app, however many ask at once.
    let tasks: Vec<_> = (0..10).map(|_| (store.clone(), s.app.clone())).map(|(st, a)| tokio::spawn(async move { st.create_switchboard(&a).await })).collect();
    for r in futures::future::join_all(tasks).await {
        assert!(is_rule(&r.unwrap()), "a second switchboard");
    }
    let other = store.create_app(new_app(new_id(), json!({"displayName": "Other"})).unwrap()).await.unwrap().id;
    let tasks: Vec<_> = (0..10).map(|_| (store.clone(), other.clone())).map(|(st, a)| tokio::spawn(async move { st.create_switchboard(&a).await })).collect();
    let results: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!((results.iter().filter(|r| r.is_ok()).count(), results.iter().filter(|r| is_rule(r)).count()), (1, 9), "{results:?}");
    assert_eq!(store.list_switchboards(&other).await.unwrap().len(), 1);
    assert!(is_not_found(&store.create_switchboard("5ef21b86e933b7355c11c604").await, Resource::App));

    let listed = store.list_switchboard_integrations(&s.app, &s.switchboard).await.unwrap();
    assert_eq!(listed.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["human", "agent", "bot"]);
    assert!(is_not_found(&store.list_switchboard_integrations(&s.app, "5ef21b86e933b7355c11c604").await, Resource::Switchboard));
    assert!(is_not_found(&store.list_switchboard_integrations(&other, &s.switchboard).await, Resource::Switchboard), "another app's switchboard");

    // Concurrent renames to one name: one wins.
    let tasks: Vec<_> = [&s.bot.1, &s.agent.1, &s.human.1]
        .into_iter()
        .map(|id| {
            let (st, a, sb, id) = (store.clone(), s.app.clone(), s.switchboard.clone(), id.clone());
            tokio::spawn(async move { st.update_switchboard_integration(&a, &sb, &id, parse_switchboard_integration_update(json!({"name": "same"})).unwrap()).await })
        })
        .collect();
    let results: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::Domain(DomainError::Invalid(_))))), "{results:?}");

    // The default and anyone's next stay.
    assert!(is_rule(&store.delete_switchboard_integration(&s.app, &s.switchboard, &s.bot.1).await));
    assert!(is_rule(&store.delete_switchboard_integration(&s.app, &s.switchboard, &s.human.1).await), "agent's next");
    // Deleting a linked integration unlinks it; the agent's `next` that named it names
    // nothing now, and the switchboard stays editable.
    store.delete_integration(&s.app, &s.human.0).await.unwrap();
    let left = store.list_switchboard_integrations(&s.app, &s.switchboard).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|i| i.next_switchboard_integration_id.as_deref() != Some(s.human.1.as_str())), "{left:?}");
    store.update_switchboard_integration(&s.app, &s.switchboard, &s.bot.1, parse_switchboard_integration_update(json!({"messageHistoryCount": 2})).unwrap()).await.unwrap();
    // The default's integration too: enabling then needs a new default.
    store.delete_integration(&s.app, &s.bot.0).await.unwrap();
    let (sb, _) = store.switchboard(&s.app).await.unwrap().unwrap();
    assert_eq!(sb.default_switchboard_integration_id, None);
    assert!(is_rule(&store.update_switchboard(&s.app, &s.switchboard, parse_switchboard_update(json!({"enabled": true})).unwrap()).await));

    // Deleting the switchboard takes its integrations along.
    store.delete_switchboard(&s.app, &s.switchboard).await.unwrap();
    assert!(store.list_switchboards(&s.app).await.unwrap().is_empty());
    assert!(is_not_found(&store.delete_switchboard(&s.app, &s.switchboard).await, Resource::Switchboard));
}

story!(switchboard_configuration, configuration);

async fn control(store: &Store) {
    let s = setup(store).await;
    let c = conversation(store, &s.app).await;
    assert_eq!(active(store, &s.app, &c).await.as_deref(), Some("bot"), "the default takes a new conversation");
    let created = store.events_after(&s.app, 0, 100).await.unwrap().into_iter().find(|e| e.trigger() == Trigger::ConversationCreate).unwrap();
    assert_eq!(created.event.conversation().unwrap().control.active_id(), Some(s.bot.1.as_str()));

    // 20 passes to `next` at once by the bot (its own credentials): one passes control to
    // the agent; every other finds the bot no longer in control and is disregarded.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (st, a, c, bot) = (store.clone(), s.app.clone(), c.clone(), s.bot.0.clone());
            tokio::spawn(async move { st.control_conversation(&a, &c, request(ActionKind::Pass, json!({"switchboardIntegration": "next"})), Some(bot)).await })
        })
        .collect();
    for r in futures::future::join_all(tasks).await {
        r.unwrap().unwrap();
    }
    assert_eq!(active(store, &s.app, &c).await.as_deref(), Some("agent"), "control went one step, not twenty");
    assert_eq!(control_events(store, &s.app, &c).await, [(Trigger::SwitchboardPassControl, Some("agent".to_string()))]);

    // 20 passes to the human by the business at once: one changes control, the others find
    // it done.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (st, a, c) = (store.clone(), s.app.clone(), c.clone());
            tokio::spawn(async move { st.control_conversation(&a, &c, request(ActionKind::Pass, json!({"switchboardIntegration": "human"})), None).await })
        })
        .collect();
    for r in futures::future::join_all(tasks).await {
        r.unwrap().unwrap();
    }
    assert_eq!(control_events(store, &s.app, &c).await.len(), 2);
    assert_eq!(active(store, &s.app, &c).await.as_deref(), Some("human"));

    // The human passes on and releases at once: whichever comes second finds the human no
    // longer in control (refused, or disregarded). Exactly one of the two happened.
    for _ in 0..5 {
        store.control_conversation(&s.app, &c, request(ActionKind::Pass, json!({"switchboardIntegration": "human"})), None).await.unwrap();
        let before = control_events(store, &s.app, &c).await.len();
        let (st, a, cc, human) = (store.clone(), s.app.clone(), c.clone(), s.human.0.clone());
        let pass = tokio::spawn(async move { st.control_conversation(&a, &cc, request(ActionKind::Pass, json!({"switchboardIntegration": "next"})), Some(human)).await });
        let (st, a, cc, human) = (store.clone(), s.app.clone(), c.clone(), s.human.0.clone());
        let release = tokio::spawn(async move { st.control_conversation(&a, &cc, request(ActionKind::Release, json!({})), Some(human)).await });
        let (pass, release) = (pass.await.unwrap(), release.await.unwrap());
        assert!(pass.is_ok(), "{pass:?}");
        let events = control_events(store, &s.app, &c).await;
        assert_eq!(events.len() - before, 1, "one of the two took effect: {events:?}");
        match events.last().unwrap() {
            // The pass won: the release was refused.
            (Trigger::SwitchboardPassControl, Some(name)) => {
                assert_eq!(name, "bot");
                assert!(matches!(release, Err(StoreError::Domain(DomainError::Forbidden(_)))), "{release:?}");
            }
            // The release won: the pass to next was a repeat from one no longer in control.
            (Trigger::SwitchboardReleaseControl, None) => assert!(release.is_ok()),
            other => panic!("{other:?}"),
        }
    }

    // A refused offer commits its failure event, then answers the error.
    store.control_conversation(&s.app, &c, request(ActionKind::Pass, json!({"switchboardIntegration": "agent"})), None).await.unwrap();
    let offered = store.control_conversation(&s.app, &c, request(ActionKind::Offer, json!({"switchboardIntegration": "agent", "metadata": {"n": 1}})), None).await;
    assert!(is_rule(&offered), "{offered:?}");
    let last = store.events_after(&s.app, 0, 10_000).await.unwrap().pop().unwrap();
    let Event::OfferControlFailed(failed) = last.event else { panic!("{:?}", last.event) };
    assert_eq!((failed.error.code.as_str(), failed.metadata.unwrap()["n"].as_i64()), ("switchboard_invalid_target", Some(1)));
    assert!(is_not_found(&store.control_conversation(&s.app, &c, request(ActionKind::Pass, json!({"switchboardIntegration": "ghost"})), None).await, Resource::SwitchboardIntegration));
    assert!(is_not_found(&store.control_conversation(&s.app, "5ef21b86e933b7355c11c604", request(ActionKind::Release, json!({})), None).await, Resource::Conversation));

    // Release, then the next message hands the conversation to the default again; the
    // message's event names it.
    store.control_conversation(&s.app, &c, request(ActionKind::Release, json!({})), None).await.unwrap();
    assert_eq!(active(store, &s.app, &c).await, None);
    let business = parse_message_post(json!({"author": {"type": "business"}, "content": {"type": "text", "text": "hi"}}), &Default::default()).unwrap();
    store.post_message(&s.app, &c, business, json!({"type": "api"})).await.unwrap();
    assert_eq!(active(store, &s.app, &c).await.as_deref(), Some("bot"));
    let posted = store.events_after(&s.app, 0, 10_000).await.unwrap().pop().unwrap();
    assert_eq!((posted.trigger(), posted.event.conversation().unwrap().control.active_id()), (Trigger::ConversationMessage, Some(s.bot.1.as_str())));

    // Concurrent messages on a released conversation: the default is assigned once, and
    // every message names it.
    store.control_conversation(&s.app, &c, request(ActionKind::Release, json!({})), None).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (st, a, c) = (store.clone(), s.app.clone(), c.clone());
            let m = parse_message_post(json!({"author": {"type": "business"}, "content": {"type": "text", "text": format!("m{i}")}}), &Default::default()).unwrap();
            tokio::spawn(async move { st.post_message(&a, &c, m, json!({"type": "api"})).await })
        })
        .collect();
    for r in futures::future::join_all(tasks).await {
        r.unwrap().unwrap();
    }
    let messages: Vec<_> = store.events_after(&s.app, 0, 10_000).await.unwrap().into_iter().filter(|e| e.trigger() == Trigger::ConversationMessage).collect();
    assert!(messages.iter().rev().take(10).all(|e| e.event.conversation().unwrap().control.active_id() == Some(s.bot.1.as_str())));
}

story!(control_transitions_serialise_per_conversation, control);
