//! Attachment rows: an upload's life (uploading → ready → doomed → forgotten), the link of
//! a `for=message` file to the message that references it, and every owner's deletion
//! dooming its files in its own transaction (message, all messages, conversation, user,
//! app, the retention sweep).

use serde_json::json;
use sunbeam::domain::app::{new_app, update_app};
use sunbeam::domain::attachment::{Attachment, AttachmentState, STALE_UPLOAD_MS};
use sunbeam::domain::conversation::parse_new_conversation;
use sunbeam::domain::error::Resource;
use sunbeam::domain::ids::new_id;
use sunbeam::domain::message::{parse_message_post, NewMessage};
use sunbeam::domain::time::now_ms;
use sunbeam::domain::user::new_user;
use sunbeam::store::Store;

use crate::is_not_found;

fn row(app: &str, conversation: Option<&str>, for_message: bool) -> Attachment {
    Attachment {
        id: new_id(),
        app_id: app.into(),
        name: "a.png".into(),
        media_type: "application/octet-stream".into(),
        size: 0,
        for_message,
        conversation_id: conversation.map(str::to_string),
        message_id: None,
        user_id: None,
        state: AttachmentState::Uploading,
        created_at: now_ms(),
    }
}

/// A ready attachment.
async fn stored(store: &Store, app: &str, conversation: Option<&str>, for_message: bool) -> Attachment {
    let a = row(app, conversation, for_message);
    store.begin_attachment(&a).await.unwrap();
    store.finish_attachment(&a.id, "image/png", 42).await.unwrap()
}

/// An image message by `user` (or the business) that references attachment `a`.
fn image(a: &Attachment, user: Option<&str>) -> NewMessage {
    let author = match user {
        Some(u) => json!({"type": "user", "userId": u}),
        None => json!({"type": "business"}),
    };
    let mut m = parse_message_post(json!({"author": author, "content": {"type": "image", "mediaUrl": format!("http://h/attachments/{}/a.png", a.id)}}), &Default::default()).unwrap();
    m.attachment = Some(a.id.clone());
    m
}

async fn state(store: &Store, id: &str) -> Option<AttachmentState> {
    store.get_attachment(id).await.unwrap().map(|a| a.state)
}

async fn setup(store: &Store) -> (String, String, String) {
    let app = store.create_app(new_app(new_id(), json!({"displayName": "A"})).unwrap()).await.unwrap().id;
    let ann = store.create_user(&app, new_user(new_id(), now_ms(), json!({"externalId": "ann"}), false).unwrap()).await.unwrap().id;
    let (c, _) = store.create_conversation(&app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": ann}]}), 10).unwrap()).await.unwrap();
    (app, ann, c.id)
}

async fn group(store: &Store, app: &str, user: &str) -> String {
    store.create_conversation(app, parse_new_conversation(json!({"type": "sdkGroup", "participants": [{"userId": user}]}), 10).unwrap()).await.unwrap().0.id
}

async fn lifecycle(store: &Store) {
    let (app, _, conversation) = setup(store).await;

    // A conversation of another app (or none) cannot be named.
    let other = store.create_app(new_app(new_id(), json!({"displayName": "B"})).unwrap()).await.unwrap().id;
    assert!(is_not_found(&store.begin_attachment(&row(&other, Some(&conversation), true)).await, Resource::Conversation));

    let a = row(&app, Some(&conversation), true);
    store.begin_attachment(&a).await.unwrap();
    assert_eq!(state(store, &a.id).await, Some(AttachmentState::Uploading));
    let ready = store.finish_attachment(&a.id, "image/png", 42).await.unwrap();
    assert_eq!((ready.state, ready.size, ready.media_type.as_str()), (AttachmentState::Ready, 42, "image/png"));
    assert_eq!(ready.conversation_id.as_deref(), Some(conversation.as_str()));
    assert!(ready.for_message);
    // Finishing twice finds no upload.
    assert!(store.finish_attachment(&a.id, "image/png", 42).await.is_err());

    // Only its app may delete it, by its name.
    assert!(!store.doom_attachment(&other, &a.id, "a.png").await.unwrap());
    assert!(!store.doom_attachment(&app, &a.id, "b.png").await.unwrap());
    assert!(store.attachments_to_sweep(now_ms(), 100).await.unwrap().is_empty());
    assert!(store.doom_attachment(&app, &a.id, "a.png").await.unwrap());
    assert!(!store.doom_attachment(&app, &a.id, "a.png").await.unwrap(), "doomed once");
    assert_eq!(store.attachments_to_sweep(now_ms(), 100).await.unwrap(), vec![a.id.clone()]);
    store.forget_attachments(vec![a.id.clone()]).await.unwrap();
    assert_eq!(state(store, &a.id).await, None);

    // Ready rows are never forgotten; an interrupted upload is swept once stale.
    let kept = stored(store, &app, None, false).await;
    store.forget_attachments(vec![kept.id.clone()]).await.unwrap();
    assert_eq!(state(store, &kept.id).await, Some(AttachmentState::Ready));
    let stuck = row(&app, None, false);
    store.begin_attachment(&stuck).await.unwrap();
    assert!(store.attachments_to_sweep(now_ms() - STALE_UPLOAD_MS, 100).await.unwrap().is_empty());
    assert_eq!(store.attachments_to_sweep(now_ms() + STALE_UPLOAD_MS, 100).await.unwrap(), vec![stuck.id.clone()]);

    // An upload whose app is deleted meanwhile is doomed, and cannot become ready.
    let late = row(&app, None, false);
    store.begin_attachment(&late).await.unwrap();
    store.delete_app(&app).await.unwrap();
    assert!(store.finish_attachment(&late.id, "text/plain", 1).await.is_err());
    for id in [&late.id, &kept.id, &stuck.id] {
        assert_eq!(state(store, id).await, Some(AttachmentState::Doomed), "the app's files are doomed with it");
    }
}
story!(an_attachment_goes_from_uploading_to_ready_to_doomed_to_forgotten, lifecycle);

async fn owners(store: &Store) {
    let (app, ann, conversation) = setup(store).await;
    let source = || json!({"type": "api:conversations"});

    // Linked to the message that references it: deleted with that message only.
    let a = stored(store, &app, None, true).await;
    let plain = stored(store, &app, None, false).await;
    let m = store.post_message(&app, &conversation, image(&a, Some(&ann)), source()).await.unwrap();
    let mut referencing_plain = image(&plain, None);
    referencing_plain.attachment = None;
    store.post_message(&app, &conversation, referencing_plain, source()).await.unwrap();
    let linked = store.get_attachment(&a.id).await.unwrap().unwrap();
    assert_eq!(linked.message_id.as_deref(), m["id"].as_str());
    assert_eq!((linked.conversation_id.as_deref(), linked.user_id.as_deref()), (Some(conversation.as_str()), Some(ann.as_str())));
    // A second message naming it does not take it over.
    store.post_message(&app, &conversation, image(&a, None), source()).await.unwrap();
    assert_eq!(store.get_attachment(&a.id).await.unwrap().unwrap().message_id.as_deref(), m["id"].as_str());
    store.delete_message(&app, &conversation, m["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(state(store, &a.id).await, Some(AttachmentState::Doomed));
    assert_eq!(state(store, &plain.id).await, Some(AttachmentState::Ready), "files not uploaded for=message stay");

    // DeleteAllMessages: the files of its messages, not the unreferenced ones.
    let b = stored(store, &app, None, true).await;
    let waiting = stored(store, &app, Some(&conversation), true).await;
    store.post_message(&app, &conversation, image(&b, None), source()).await.unwrap();
    store.delete_all_messages(&app, &conversation).await.unwrap();
    assert_eq!(state(store, &b.id).await, Some(AttachmentState::Doomed));
    assert_eq!(state(store, &waiting.id).await, Some(AttachmentState::Ready));

    // DeleteConversation: every for=message file of it, referenced or not.
    store.delete_conversation(&app, &conversation).await.unwrap();
    assert_eq!(state(store, &waiting.id).await, Some(AttachmentState::Doomed));

    // DeleteUser: the files of the user's messages, wherever they are.
    let elsewhere = group(store, &app, &ann).await;
    let c = stored(store, &app, None, true).await;
    let business = stored(store, &app, None, true).await;
    store.post_message(&app, &elsewhere, image(&c, Some(&ann)), source()).await.unwrap();
    store.post_message(&app, &elsewhere, image(&business, None), source()).await.unwrap();
    store.delete_user(&app, &ann).await.unwrap();
    assert_eq!(state(store, &c.id).await, Some(AttachmentState::Doomed));
    assert_eq!(state(store, &business.id).await, Some(AttachmentState::Ready), "the business's files stay with its messages");

    // The retention sweep: the files of the messages it deletes.
    let bob = store.create_user(&app, new_user(new_id(), now_ms(), json!({"externalId": "bob"}), false).unwrap()).await.unwrap().id;
    let kept = group(store, &app, &bob).await;
    let d = stored(store, &app, None, true).await;
    store.post_message(&app, &kept, image(&d, Some(&bob)), source()).await.unwrap();
    store.update_app(&app, |current| update_app(current, json!({"settings": {"conversationRetentionSeconds": 60}}))).await.unwrap();
    assert!(store.sweep_retention(now_ms() + 120_000).await.unwrap() >= 1);
    assert_eq!(state(store, &d.id).await, Some(AttachmentState::Doomed));

    let doomed = store.attachments_to_sweep(now_ms(), 100).await.unwrap();
    for id in [&a.id, &b.id, &waiting.id, &c.id, &d.id] {
        assert!(doomed.contains(id), "{id} is to be swept");
    }
    assert!(!doomed.contains(&plain.id));
}
story!(for_message_files_are_doomed_with_their_message_conversation_user_and_retention, owners);
