//! Stable animal names for unnamed users (the app setting `useAnimalNames`).

use sha2::{Digest, Sha256};

const ADJECTIVES: &[&str] = &[
    "Amber", "Brave", "Calm", "Clever", "Cosmic", "Curious", "Dapper", "Eager", "Fancy", "Gentle", "Golden", "Happy",
    "Jolly", "Kind", "Lively", "Lucky", "Mellow", "Merry", "Nimble", "Noble", "Plucky", "Proud", "Quick", "Quiet",
    "Rapid", "Shiny", "Silver", "Sunny", "Swift", "Tidy", "Witty", "Zesty",
];

const ANIMALS: &[&str] = &[
    "Aardvark", "Badger", "Beaver", "Bison", "Camel", "Cheetah", "Dolphin", "Eagle", "Falcon", "Ferret", "Fox", "Gazelle",
    "Giraffe", "Hedgehog", "Heron", "Ibis", "Jaguar", "Koala", "Lemur", "Lynx", "Marten", "Meerkat", "Narwhal", "Ocelot",
    "Otter", "Panda", "Pelican", "Puffin", "Quokka", "Raccoon", "Seal", "Tapir", "Toucan", "Walrus", "Wombat", "Zebra",
];

/// The same user id always gets the same name.
pub fn name_for(user_id: &str) -> (&'static str, &'static str) {
    let h = Sha256::digest(user_id.as_bytes());
    (ADJECTIVES[h[0] as usize % ADJECTIVES.len()], ANIMALS[h[1] as usize % ANIMALS.len()])
}
