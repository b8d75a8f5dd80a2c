/* The errors WPP functions throw (WPPError and its codes), and the server's. */

export class WPPError extends Error {
  constructor(code, message, extra) {
    super(message);
    this.code = code;
    Object.assign(this, extra || {});
  }
}

export class InvalidWid extends WPPError {
  constructor(id) {
    super('invalid_wid', `Invalid WID value for ${id}`, { id });
  }
}

export class InvalidChat extends WPPError {
  constructor(id) {
    super('chat_not_found', `Chat not found for ${id}`, { id });
  }
}

/** An error answer of the sandbox server (HTTP status + code). */
export class ServerError extends Error {
  constructor(status, code, message, extra) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.extra = extra || {}; // what else the answer said (a send's nack: its code, a timelock)
  }
}
