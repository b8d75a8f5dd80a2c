/* WPP.newsletter: channels (wa-js 4.6.0 dist/newsletter/functions/*.d.ts).
 * A channel is a chat `<digits>@newsletter` in WhatsApp's NewsletterStore, which
 * WPP.chat.get and WPP.chat.list({onlyNewsletter: true}) read; posting goes through the
 * chat send functions (owners and admins only, text, image, video or poll). */

import { WPPError } from './errors.js';
import { assertWid, createWid } from './ids.js';
import { state } from './state.js';
import { store, upsertChat } from './stores.js';
import { asWPPError, asyncApi, http } from './transport.js';
import { render } from './ui.js';

/** WhatsApp's NewsletterMetadataModel: what the page knows of a channel, and its membership. */
export class NewsletterMetadataModel {
  constructor(view) {
    this.id = createWid(view.id);
    this.name = view.name;
    this.description = view.description || undefined;
    this.inviteCode = view.inviteCode;
    this.creationTime = view.creationTime;
    this.subscribersCount = view.subscribersCount;
    this.membershipType = view.membershipType || 'guest';
  }

  iAmOwner() { return this.membershipType === 'owner'; }

  iAmAdmin() { return this.membershipType === 'admin'; }

  iAmAdminOrOwner() { return this.iAmOwner() || this.iAmAdmin(); }

  iAmSubscriber() { return this.membershipType === 'subscriber'; }
}

/** The channel's chat after a server answer {channel, chat}: into the store at once. */
function applyAnswer(answer) {
  if (answer && answer.chat) upsertChat(answer.chat);
  render();
  return answer.channel;
}

/** ensureNewsletter (wa-js 4.6.0): the chat must be in the store and be a channel. */
function ensureNewsletter(newsletterId) {
  const wid = assertWid(newsletterId);
  const chatModel = store.chats.get(wid._serialized);
  if (!chatModel) throw new WPPError('chat_not_found', `Chat not found for ${wid}`, { id: wid });
  if (!chatModel.isNewsletter) throw new WPPError('not_a_newsletter', `Chat ${wid} is not a newsletter`);
  return chatModel;
}

/** ResultCreateNewsletter (newsletter/functions/create.d.ts). */
function result(channel) {
  return {
    idJid: channel.id,
    inviteCode: channel.inviteCode,
    inviteLink: `https://whatsapp.com/channel/${channel.inviteCode}`,
    name: channel.name,
    state: 'ACTIVE',
    subscribersCount: channel.subscribersCount,
    description: channel.description || null,
    timestamp: channel.creationTime,
  };
}

async function call(method, path, body) {
  try {
    return await http(method, path, { auth: true, body });
  } catch (err) {
    throw asWPPError(err);
  }
}

export const newsletter = {
  create: asyncApi('newsletter.create', async (name, opts = {}) => {
    if (!state.loggedIn) throw new Error('Not logged in');
    const answer = await call('POST', '/newsletters', {
      name, description: (opts && opts.description) || null, picture: (opts && opts.picture) || null });
    return result(applyAnswer(answer));
  }),
  edit: asyncApi('newsletter.edit', async (newsletterId, opts = {}) => {
    const chatModel = ensureNewsletter(newsletterId);
    const answer = await call('POST', `/newsletters/${chatModel.id._serialized}/edit`, {
      name: opts.name || null, description: opts.description || null,
      picture: opts.picture === null ? '' : (opts.picture || null) });
    return result(applyAnswer(answer));
  }),
  // wa-js answers false when WhatsApp refuses (not the owner, gone): never throws for that
  destroy: asyncApi('newsletter.destroy', async (id) => {
    if (!id || !String(id).includes('newsletter')) {
      throw new WPPError('send_correctly_newsletter_id', 'Please, send the correct newsletter ID.');
    }
    try {
      await http('POST', `/newsletters/${id}/delete`, { auth: true, body: {} });
    } catch (err) {
      return false;
    }
    store.chats.delete(String(id));
    render();
    return true;
  }),
  follow: asyncApi('newsletter.follow', async (id) => {
    if (!id || !String(id).includes('@newsletter')) {
      throw new WPPError('invalid_newsletter_id', 'Please provide a valid newsletter ID (must contain @newsletter)');
    }
    try {
      applyAnswer(await http('POST', `/newsletters/${id}/follow`, { auth: true, body: { follow: true } }));
    } catch (err) {
      throw new WPPError('newsletter_follow_failed', `Failed to follow newsletter: ${err.message}`,
        { error: err }); // the server's error, with its status, as wa-js passes it on
    }
    return true;
  }),
  unfollow: asyncApi('newsletter.unfollow', async (id) => {
    if (!id || !String(id).includes('@newsletter')) {
      throw new WPPError('invalid_newsletter_id', 'Please provide a valid newsletter ID (must contain @newsletter)');
    }
    try {
      await http('POST', `/newsletters/${id}/follow`, { auth: true, body: { follow: false } });
    } catch (err) {
      if (err.status === 400) return true;
      throw new WPPError('newsletter_unfollow_failed', `Failed to unfollow newsletter: ${err.message}`,
        { error: err });
    }
    const chatModel = store.chats.get(String(id));
    if (chatModel && chatModel.newsletterMetadata && chatModel.newsletterMetadata.iAmSubscriber()) {
      store.chats.delete(String(id));
    }
    render();
    return true;
  }),
  // Only an admin or the owner lists followers; a failed request answers false
  getSubscribers: asyncApi('newsletter.getSubscribers', async (id, count) => {
    if (!id || !String(id).includes('newsletter')) {
      throw new WPPError('send_correctly_newsletter_id', 'Please, send the correct newsletter ID.');
    }
    const chatModel = store.chats.get(String(id));
    const meta = chatModel && chatModel.newsletterMetadata;
    if (meta && meta.iAmAdminOrOwner() === false) {
      throw new WPPError('newsletter_subscribers_require_admin',
        'Only an admin or the owner of a newsletter can list its subscribers.', { id });
    }
    let answer;
    try {
      answer = await http('GET', `/newsletters/${id}/followers`, { auth: true });
    } catch (err) {
      return false;
    }
    const followers = answer.followers.map((f) => ({
      id: createWid(f.id), displayName: f.displayName || undefined, role: f.role,
      followTime: f.followTime, adminProfile: null,
    }));
    return count === undefined ? followers : followers.slice(0, count);
  }),
};
