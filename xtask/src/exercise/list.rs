//! The exercises, as data: one entry per exercise, in the order a learner
//! meets them. Counts, ranges and the "next" line all come from this list.
//!
//! Adding one is an entry here, a check function in `checks/`, the
//! reference solution's files in `exercises/`, and the exercise's section at
//! the end of its chapter (see `exercises/README.md`).

use super::{Exercise, checks};

pub const EXERCISES: &[Exercise] = &[
    Exercise {
        number: 1,
        chapter: 1,
        package: "step1",
        changes: "step1-ws-only",
        title: (
            "echo: step 1 answers every message with `Echo: ` in front",
            "에코: 1단계가 받은 메시지마다 앞에 `Echo: `를 붙여 되돌려 준다",
        ),
        hint: (
            "step1-ws-only/src/main.rs, fn talk: in the arm for Message::Text, after the println!, \
             send format!(\"Echo: {text}\") back with websocket.send(...).await",
            "step1-ws-only/src/main.rs의 fn talk에서, Message::Text 갈래의 println! 다음에 \
             websocket.send(...).await로 format!(\"Echo: {text}\")를 돌려보내세요",
        ),
        check: checks::echo::check,
        browser: false,
        redis: false,
        solution: "exercises/ch1",
    },
    Exercise {
        number: 2,
        chapter: 2,
        package: "step1",
        changes: "step1-ws-only",
        title: (
            "numbered clients: step 1 prints `Client #3 connected` for its third WebSocket client",
            "클라이언트 번호: 1단계가 세 번째 웹소켓 클라이언트에게 `Client #3 connected`를 출력한다",
        ),
        hint: (
            "step1-ws-only/src/main.rs, fn handle_connection: a second static AtomicUsize next to \
             OPEN_CONNECTIONS, counted up after the handshake where `Connected:` is printed, never \
             counted down; print `Client #{number} connected` there",
            "step1-ws-only/src/main.rs의 fn handle_connection에서, OPEN_CONNECTIONS 옆에 static \
             AtomicUsize를 하나 더 두고 핸드셰이크가 끝나 `Connected:`를 출력하는 곳에서 1씩 \
             늘리세요(줄이지는 않습니다). 같은 곳에서 `Client #{number} connected`를 출력합니다",
        ),
        check: checks::numbered::check,
        browser: false,
        redis: false,
        solution: "exercises/ch2",
    },
    Exercise {
        number: 3,
        chapter: 3,
        package: "step3",
        changes: "step3-combined",
        title: (
            "chat: a message from one page of step 3 reaches every open page",
            "채팅: 3단계의 한 페이지에서 보낸 메시지가 열려 있는 모든 페이지에 도착한다",
        ),
        hint: (
            "step3-combined/src/main.rs: one tokio::sync::broadcast channel made in fn run and \
             handed through fn routes and fn handle_websocket to fn talk; in fn talk, send each \
             text into it as well as printing it, and add a select! arm that sends the client \
             what the channel's receiver gets",
            "step3-combined/src/main.rs에서, fn run에서 tokio::sync::broadcast 채널을 하나 만들어 \
             fn routes와 fn handle_websocket을 거쳐 fn talk까지 넘기세요. fn talk에서는 받은 \
             텍스트를 출력하면서 채널에도 보내고, 채널의 수신 쪽이 받은 것을 클라이언트에게 \
             보내는 select! 갈래를 하나 더 둡니다",
        ),
        check: checks::chat::check,
        browser: true,
        redis: false,
        solution: "exercises/ch3",
    },
    Exercise {
        number: 4,
        chapter: 4,
        package: "step1",
        changes: "step1-ws-only",
        title: (
            "heartbeat: step 1 pings every client every HEARTBEAT_SECS seconds and drops one that does not answer",
            "하트비트: 1단계가 HEARTBEAT_SECS초마다 모든 클라이언트에 ping을 보내고, 답하지 않는 클라이언트를 끊는다",
        ),
        hint: (
            "step1-ws-only/src/main.rs, fn talk: a tokio::time::interval of HEARTBEAT_SECS \
             seconds (read once in fn run, 5 when unset, handed down through fn handle_connection) \
             as another select! arm that sends Message::Ping; a Message::Pong arm that notes the \
             answer; at the next tick without an answer, return a reason that says so \
             (\"no pong within 5s\"), which the Disconnected: line prints",
            "step1-ws-only/src/main.rs의 fn talk에서, HEARTBEAT_SECS초(fn run에서 한 번 읽고, 없으면 \
             5초로 하고, fn handle_connection을 거쳐 넘깁니다)짜리 tokio::time::interval을 select! \
             갈래로 추가해 Message::Ping을 보내고, Message::Pong 갈래에서 답이 왔다고 기록하세요. \
             다음 틱까지 답이 없으면 그 사실을 담은 이유(\"no pong within 5s\")를 돌려주면 \
             Disconnected: 줄에 출력됩니다",
        ),
        check: checks::heartbeat::check,
        browser: false,
        redis: false,
        solution: "exercises/ch4",
    },
    Exercise {
        number: 5,
        chapter: 5,
        package: "step3",
        changes: "step2-html-client/index.html",
        title: (
            "reconnect: the page connects again by itself when the server restarts, waiting longer each time",
            "재연결: 서버가 다시 켜지면 페이지가 스스로 다시 연결하고, 시도할 때마다 더 오래 기다린다",
        ),
        hint: (
            "step2-html-client/index.html, the script: put `new WebSocket(address)` and its \
             handlers in a function connect(); in socket.onclose show 'Reconnecting in ' + delay + \
             ' s' and call connect() again with setTimeout after that delay, doubling it each time \
             (back to 1 s in onopen)",
            "step2-html-client/index.html의 스크립트에서, `new WebSocket(address)`와 핸들러들을 \
             connect() 함수로 묶으세요. socket.onclose에서 'Reconnecting in ' + delay + ' s'를 \
             보여 주고 setTimeout으로 그만큼 뒤에 connect()를 다시 부르며, 기다리는 시간은 매번 \
             두 배로 늘립니다(onopen에서 1초로 되돌립니다)",
        ),
        check: checks::reconnect::check,
        browser: true,
        redis: false,
        solution: "exercises/ch5",
    },
    Exercise {
        number: 6,
        chapter: 6,
        package: "step4",
        changes: "step4-many-servers",
        title: (
            "rooms: `/?room=NAME` puts a page of step 4 in a room; its lines, history and replay stay in that room, on every instance",
            "방: 4단계 페이지를 `/?room=NAME`으로 열면 그 방에 들어가고, 글과 지난 대화와 다시 받는 글이 모든 인스턴스에서 그 방 안에 머문다",
        ),
        hint: (
            "step4-many-servers/src/index.html: read the room from the page's address and open \
             /chat?room=NAME, keeping it next to after= on a reconnect. \
             step4-many-servers/src/conversation.rs, fn resume_point: read room= beside after= \
             (`lobby` without it, 400 for a name that is not 1 to 32 letters, digits, `-` or \
             `_`). src/chat_log.rs and src/once.rs: write the room into each entry of the log; \
             src/fanout.rs: hand an entry only to the pages of its room; src/chat_log.rs, fn \
             history: only the room's entries as history and replay",
            "step4-many-servers/src/index.html에서 페이지 주소의 room을 읽어 /chat?room=NAME으로 \
             여세요. 다시 연결할 때도 after=와 함께 남겨 둡니다. \
             step4-many-servers/src/conversation.rs의 fn resume_point에서는 after= 옆의 room=도 \
             읽습니다(없으면 `lobby`, 영문자·숫자·`-`·`_`로 된 1~32글자가 아니면 400). \
             src/chat_log.rs와 src/once.rs에서는 로그의 항목마다 방을 적고, src/fanout.rs에서는 \
             항목을 그 방의 페이지에만 넘기며, src/chat_log.rs의 fn history에서는 지난 대화와 \
             다시 보내는 글로 그 방의 항목만 줍니다",
        ),
        check: checks::rooms::check,
        browser: true,
        redis: true,
        solution: "exercises/ch6",
    },
];
