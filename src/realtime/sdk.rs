//! The SDKs' realtime channels: one per user, covering all their conversations
//! (sdk-protocol §5). What is published on them is rendered by [`crate::wire::sdk`].

/// The realtime channel of a user: one per user, covering all their conversations.
pub fn user_channel(app_id: &str, user_id: &str) -> String {
    format!("/sdk/apps/{app_id}/appusers/{user_id}")
}

/// `(appId, appUserId)` of a user channel.
pub fn parse_user_channel(channel: &str) -> Option<(&str, &str)> {
    let rest = channel.strip_prefix("/sdk/apps/")?;
    let (app, rest) = rest.split_once('/')?;
    let user = rest.strip_prefix("appusers/")?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (ok(app) && ok(user)).then_some((app, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_channels_round_trip() {
        let c = user_channel("5f1a", "6a2b");
        assert_eq!(c, "/sdk/apps/5f1a/appusers/6a2b");
        assert_eq!(parse_user_channel(&c), Some(("5f1a", "6a2b")));
        for bad in ["/sdk/apps/a/appusers/", "/sdk/apps//appusers/u", "/sdk/apps/a/appusers/u/x", "/sdk/apps/a/users/u", "/sdk/apps/a/appusers/*", "/other"] {
            assert_eq!(parse_user_channel(bad), None, "{bad}");
        }
    }
}
