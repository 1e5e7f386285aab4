//! The benchmark data: a deterministic set of workspaces, threads and
//! messages, generated in chunks so millions of rows never sit in memory, and
//! identical on every backend (same ids, same text). Only the columns of
//! migration 0001 are written, so the data fits any later schema.

/// The project everything lives in (the one a fresh server creates).
pub const PROJECT: &str = "default";
/// A word planted in one message in [`SEARCH_TERM_EVERY`] of the search workspace.
pub const SEARCH_TERM: &str = "kumquat";
const SEARCH_TERM_EVERY: u64 = 1000;
/// 2026-01-01T00:00:00Z in milliseconds; seeded times count from here.
const EPOCH_MS: i64 = 1_767_225_600_000;
const THREAD_SPACING_MS: i64 = 60_000;
const MESSAGE_SPACING_MS: i64 = 100;
const CHUNK_ROWS: usize = 100_000;

const WORDS: [&str; 48] = [
    "alpha", "bridge", "cache", "delta", "engine", "forest", "garden", "harbor", "island", "jacket", "kernel",
    "ladder", "marble", "needle", "orbit", "pepper", "quartz", "river", "saddle", "timber", "umbrella", "valley",
    "window", "yellow", "zephyr", "answer", "budget", "candle", "dinner", "energy", "finance", "guitar", "history",
    "invoice", "journey", "kitchen", "lesson", "meeting", "number", "office", "planet", "question", "recipe",
    "summary", "ticket", "update", "version", "weather",
];

/// The workspaces of the benchmark (each a different tenant of the default project).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// Thread lists and the page at 1,000 threads.
    List,
    /// One thread with a long history (message list of 200).
    Long,
    /// Search in a large workspace.
    Search,
    /// Message creates: one thread per writer, plus one shared by all.
    Write,
    /// The page at 1,000,000 threads (`--full`).
    Big,
}

impl Space {
    pub const ALL: [Space; 5] = [Space::List, Space::Long, Space::Search, Space::Write, Space::Big];

    pub fn workspace(self) -> &'static str {
        match self {
            Space::List => "bench-list",
            Space::Long => "bench-long",
            Space::Search => "bench-search",
            Space::Write => "bench-write",
            Space::Big => "bench-big",
        }
    }

    fn number(self) -> u64 {
        match self {
            Space::List => 1,
            Space::Long => 2,
            Space::Search => 3,
            Space::Write => 4,
            Space::Big => 5,
        }
    }
}

/// How many threads and messages each workspace gets.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sizes {
    pub list_threads: u64,
    pub list_messages_per_thread: u64,
    pub long_thread_messages: u64,
    pub search_threads: u64,
    pub search_messages_per_thread: u64,
    pub write_threads: u64,
    pub big_threads: u64,
    pub big_messages_per_thread: u64,
}

impl Sizes {
    pub fn quick() -> Sizes {
        Sizes {
            list_threads: 1_000,
            list_messages_per_thread: 2,
            long_thread_messages: 10_000,
            search_threads: 100_000,
            search_messages_per_thread: 10,
            write_threads: 64,
            big_threads: 0,
            big_messages_per_thread: 0,
        }
    }

    pub fn full() -> Sizes {
        Sizes { big_threads: 1_000_000, big_messages_per_thread: 10, ..Sizes::quick() }
    }

    /// Threads and messages per thread of a workspace.
    pub fn of(&self, space: Space) -> (u64, u64) {
        match space {
            Space::List => (self.list_threads, self.list_messages_per_thread),
            Space::Long => (1, self.long_thread_messages),
            Space::Search => (self.search_threads, self.search_messages_per_thread),
            // The writers' threads plus the shared one; the scenarios fill them.
            Space::Write => (self.write_threads + 1, 0),
            Space::Big => (self.big_threads, self.big_messages_per_thread),
        }
    }

    pub fn total_rows(&self) -> (u64, u64) {
        Space::ALL
            .iter()
            .map(|space| self.of(*space))
            .fold((0, 0), |(t, m), (threads, per)| (t + threads, m + threads * per))
    }
}

pub struct ThreadRow {
    pub id: String,
    pub workspace_id: &'static str,
    pub title: String,
    pub metadata: Option<String>,
    pub last_message_at: i64,
    pub created_at: i64,
}

pub struct MessageRow {
    pub id: String,
    pub thread_id: String,
    pub parent_id: Option<String>,
    pub height: i64,
    pub content: String,
    pub created_at: i64,
}

/// A batch of rows; sinks write its threads before its messages, which reference them.
#[derive(Default)]
pub struct Chunk {
    pub threads: Vec<ThreadRow>,
    pub messages: Vec<MessageRow>,
}

impl Chunk {
    fn rows(&self) -> usize {
        self.threads.len() + self.messages.len()
    }
}

/// Where the scenarios point: ids the data generator knows without asking the server.
#[derive(Clone, Debug)]
pub struct Landmarks {
    /// The thread half way down the list workspace's listing (the `after=` cursor).
    pub list_middle: String,
    pub long_thread: String,
    /// One thread per writer.
    pub write_threads: Vec<String>,
    /// The thread all writers share.
    pub shared_write_thread: String,
    pub big_middle: Option<String>,
}

/// The deterministic generator.
#[derive(Clone, Copy, Debug)]
pub struct Dataset {
    pub sizes: Sizes,
}

impl Dataset {
    pub fn new(sizes: Sizes) -> Dataset {
        Dataset { sizes }
    }

    pub fn landmarks(&self) -> Landmarks {
        let sizes = &self.sizes;
        // Listings are newest first and thread i is newer than thread i-1: the middle of n is index n/2.
        Landmarks {
            list_middle: thread_id(Space::List, sizes.list_threads / 2),
            long_thread: thread_id(Space::Long, 0),
            write_threads: (0..sizes.write_threads).map(|i| thread_id(Space::Write, i)).collect(),
            shared_write_thread: thread_id(Space::Write, sizes.write_threads),
            big_middle: (sizes.big_threads > 0).then(|| thread_id(Space::Big, sizes.big_threads / 2)),
        }
    }

    /// Every row, in chunks of about 100,000 rows.
    pub fn chunks(&self) -> impl Iterator<Item = Chunk> + '_ {
        let mut position = Space::ALL.iter().map(|space| (*space, 0u64)).collect::<Vec<_>>().into_iter().peekable();
        std::iter::from_fn(move || {
            let mut chunk = Chunk::default();
            while chunk.rows() < CHUNK_ROWS {
                let Some((space, index)) = position.peek_mut() else { break };
                let (threads, per_thread) = self.sizes.of(*space);
                if *index >= threads {
                    position.next();
                    continue;
                }
                push_thread(&mut chunk, *space, *index, per_thread);
                *index += 1;
            }
            (chunk.rows() > 0).then_some(chunk)
        })
    }
}

fn push_thread(chunk: &mut Chunk, space: Space, index: u64, messages: u64) {
    let created_at = thread_created_at(index);
    let id = thread_id(space, index);
    let seed = mix(space.number() << 48 ^ index);
    let mut parent: Option<String> = None;
    for height in 0..messages {
        let message_id = message_id(space, index, height);
        let message_seed = mix(seed ^ height.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let plant = space == Space::Search && message_seed.is_multiple_of(SEARCH_TERM_EVERY);
        chunk.messages.push(MessageRow {
            id: message_id.clone(),
            thread_id: id.clone(),
            parent_id: parent.replace(message_id),
            height: i64::try_from(height).unwrap_or(i64::MAX),
            content: message_content(height, message_seed, plant),
            created_at: message_created_at(created_at, height),
        });
    }
    chunk.threads.push(ThreadRow {
        id,
        workspace_id: space.workspace(),
        title: format!("Thread {index}: {}", words(seed, 4)),
        metadata: index.is_multiple_of(3).then(|| format!(r#"{{"source":"bench","n":{index}}}"#)),
        last_message_at: message_created_at(created_at, messages),
        created_at,
    });
}

fn thread_created_at(index: u64) -> i64 {
    EPOCH_MS - 400 * 86_400_000 + i64::try_from(index).unwrap_or(0) * THREAD_SPACING_MS
}

fn message_created_at(thread_created_at: i64, height: u64) -> i64 {
    thread_created_at + i64::try_from(height).unwrap_or(0) * MESSAGE_SPACING_MS + 1
}

pub fn thread_id(space: Space, index: u64) -> String {
    server_id("thread_", thread_created_at(index), mix(space.number() << 56 ^ index))
}

fn message_id(space: Space, thread: u64, height: u64) -> String {
    let time = message_created_at(thread_created_at(thread), height);
    server_id("msg_", time, mix((space.number() << 56) ^ (thread << 20) ^ height ^ 0x5bd1_e995))
}

/// The server's id format: prefix, 9 base62 characters of milliseconds, 15 random base62 characters.
fn server_id(prefix: &str, millis: i64, random: u64) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(prefix.len() + 24);
    id.push_str(prefix);
    let mut digits = [0u8; 24];
    let mut time = u128::try_from(millis.max(0)).unwrap_or(0);
    let mut tail = u128::from(random) << 24 ^ u128::from(mix(random));
    for slot in digits[..9].iter_mut().rev() {
        *slot = ALPHABET[usize::try_from(time % 62).unwrap_or(0)];
        time /= 62;
    }
    for slot in digits[9..].iter_mut().rev() {
        *slot = ALPHABET[usize::try_from(tail % 62).unwrap_or(0)];
        tail /= 62;
    }
    id.extend(digits.iter().map(|byte| char::from(*byte)));
    id
}

/// An `aui/v0` message of about 200 bytes; users and assistants take turns.
fn message_content(height: u64, seed: u64, plant: bool) -> String {
    let role = if height.is_multiple_of(2) { "user" } else { "assistant" };
    let mut text = words(seed, 22);
    if plant {
        text.push(' ');
        text.push_str(SEARCH_TERM);
    }
    format!(r#"{{"role":"{role}","content":[{{"type":"text","text":"{text}"}}]}}"#)
}

fn words(mut seed: u64, count: usize) -> String {
    let mut text = String::new();
    for n in 0..count {
        seed = mix(seed);
        if n > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[usize::try_from(seed % WORDS.len() as u64).unwrap_or(0)]);
    }
    text
}

/// splitmix64's finalizer: a cheap, well-spread hash.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
