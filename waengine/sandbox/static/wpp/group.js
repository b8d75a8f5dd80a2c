/* WPP.group: groups and their participants. */

import { ensureGroupChat, resolveLid } from './chat.js';
import { queryWidExists } from './contact.js';
import { WPPError } from './errors.js';
import { assertWid, createWid } from './ids.js';
import { state } from './state.js';
import { store, upsertChat } from './stores.js';
import { asWPPError, asyncApi, http } from './transport.js';
import { render } from './ui.js';

export const ADD_MESSAGES = {
  200: 'OK',
  403: "Can't join this group because the number was restricted it.",
  409: "Can't join this group because the number is already a member of it.",
  421: 'Member not added, awaiting approval!',
};

export function groupChatFromView(view) {
  const existing = store.chats.get(view.id);
  return upsertChat({
    id: view.id, name: view.subject, t: existing ? existing.t : view.creation,
    unreadCount: existing ? existing.unreadCount : 0, archive: false, pin: 0,
    isReadOnly: !view.participants.some((p) => state.me.wid.equals(p.id) || state.me.lid.equals(p.id)),
    groupMetadata: view,
  });
}

/** A member's id as the group lists it, from its phone id or its @lid. */
function memberWid(members, wid) {
  const other = wid.isLid() ? resolveLid(wid) : createWid(store.pns.get(wid._serialized));
  return other && members.get(other) ? other : wid;
}

export const group = {
  getAllGroups: asyncApi('group.getAllGroups', async () =>
    Array.from(store.chats.values()).filter((c) => c.id.isGroup() && !c.isReadOnly)),
  create: asyncApi('group.create', async (name, participants, parentGroup) => {
    if (!state.loggedIn) throw new Error('Not logged in');
    const list = (Array.isArray(participants) ? participants : [participants]).map(assertWid);
    const me = state.me.wid;
    const wids = [];
    for (const wid of list) {
      if (me.equals(wid)) continue;
      const known = store.contacts.get(wid._serialized);
      if (known) {
        wids.push(known.id);
        continue;
      }
      const exists = await queryWidExists(wid);
      if (!exists) throw new WPPError('participant_not_exists', 'Participant not exists', { id: wid });
      if (!me.equals(exists.wid)) wids.push(exists.wid);
    }
    let view;
    try {
      view = await http('POST', '/groups', { auth: true, body: {
        name, participants: wids.map((w) => w._serialized), parentGroup: parentGroup ? String(parentGroup) : null,
      } });
    } catch (err) {
      throw asWPPError(err);
    }
    groupChatFromView(view);
    render();
    return { gid: createWid(view.id), participants: view.participantResults };
  }),
  addParticipants: asyncApi('group.addParticipants', async (groupId, participants) => {
    const groupChat = ensureGroupChat(groupId, true);
    const wids = (Array.isArray(participants) ? participants : [participants]).map(assertWid);
    let answer;
    try {
      answer = await http('POST', `/groups/${groupChat.id._serialized}/participants`,
        { auth: true, body: { add: wids.map((w) => w._serialized) } });
    } catch (err) {
      throw new WPPError('group_add_participant_error', 'Failed to add participants to the group',
        { groupId, participantsIds: participants });
    }
    groupChatFromView(answer.group);
    const result = {};
    for (const [wid, code] of Object.entries(answer.results)) {
      result[wid] = { wid, code, message: ADD_MESSAGES[code] || "Can't Join., unknown error",
        invite_code: null, invite_code_exp: null };
    }
    return result;
  }),
  removeParticipants: asyncApi('group.removeParticipants', async (groupId, participants) => {
    const groupChat = ensureGroupChat(groupId, true);
    const members = groupChat.groupMetadata.participants;
    // membership helpers accept a phone id or an @lid and translate (wa-js group functions)
    const wids = (Array.isArray(participants) ? participants : [participants]).map(assertWid)
      .map((w) => (members.get(w) ? w : memberWid(members, w)));
    const valid = wids.filter((w) => members.get(w));
    if (!valid.length) {
      throw new WPPError('not_valid_group_participants',
        `No valid participants found for the group ${groupId}`);
    }
    if (valid.some((w) => !members.canRemove(w))) {
      throw new WPPError('group_participant_is_not_a_group_member',
        `Group ${groupChat.id._serialized}: Participant can not be removed`);
    }
    const answer = await http('POST', `/groups/${groupChat.id._serialized}/participants`,
      { auth: true, body: { remove: valid.map((w) => w._serialized) } }).catch((err) => {
      throw asWPPError(err);
    });
    groupChatFromView(answer.group);
  }),
  getParticipants: asyncApi('group.getParticipants', async (groupId) => {
    const groupChat = ensureGroupChat(groupId, false);
    return groupChat.groupMetadata ? groupChat.groupMetadata.participants.getModelsArray() : [];
  }),
  iAmAdmin: asyncApi('group.iAmAdmin', async (groupId) => {
    const groupChat = ensureGroupChat(groupId, false);
    return !!(groupChat.groupMetadata && groupChat.groupMetadata.participants.iAmAdmin());
  }),
};
