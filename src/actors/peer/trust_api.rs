//! The messages a `NodeHandle` sends its PeerActor about signed messages: a broadcast that reports its id, and the pin table.

use actix::prelude::*;

use super::PeerActor;
use crate::error::Result;
use crate::proto::{MessageId, NodeKey, PeerId, Pins};

/// Broadcast `text`; answers with the id it went out under.
#[derive(Debug, Message)]
#[rtype(result = "Result<MessageId>")]
pub struct SendBroadcast {
    pub text: String,
}

/// The pin table.
#[derive(Debug, Message)]
#[rtype(result = "Pins")]
pub struct GetPins;

/// Pin `name` to `key` (`Some`), or forget its pin (`None`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetPin {
    pub name: PeerId,
    pub key: Option<NodeKey>,
}

impl Handler<SendBroadcast> for PeerActor {
    type Result = Result<MessageId>;

    fn handle(&mut self, msg: SendBroadcast, ctx: &mut Context<Self>) -> Self::Result {
        let id = MessageId::from(uuid::Uuid::new_v4());
        let now = self.now();
        let mut out = Vec::new();
        let result = {
            let _e = self.span.enter();
            self.state.broadcast(id, msg.text, now, &mut out)
        };
        self.execute(out, ctx);
        result.map_err(Into::into)
    }
}

impl Handler<GetPins> for PeerActor {
    type Result = MessageResult<GetPins>;

    fn handle(&mut self, _: GetPins, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.pins().clone())
    }
}

impl Handler<SetPin> for PeerActor {
    type Result = ();

    fn handle(&mut self, msg: SetPin, ctx: &mut Context<Self>) {
        let mut out = Vec::new();
        match msg.key {
            Some(key) => self.state.pin(msg.name, key, &mut out),
            None => self.state.forget(&msg.name, &mut out),
        }
        self.execute(out, ctx);
    }
}
