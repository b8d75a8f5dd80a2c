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

const membership = {
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
    /** @type {Record<string, {wid: string, code: number, message: string,
     *   invite_code: string|null, invite_code_exp: number|null}>} */
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
  iAmMember: asyncApi('group.iAmMember', async (groupId) => {
    const groupChat = ensureGroupChat(groupId, false);
    const meta = groupChat.groupMetadata;
    return !!(meta && state.me && meta.participants.get(state.me.wid));
  }),
  iAmAdmin: asyncApi('group.iAmAdmin', async (groupId) => {
    const groupChat = ensureGroupChat(groupId, false);
    return !!(groupChat.groupMetadata && groupChat.groupMetadata.participants.iAmAdmin());
  }),
};

// dist/group/functions/setProperty.d.ts
export const GroupProperty = Object.freeze({ ANNOUNCEMENT: 'announcement', EPHEMERAL: 'ephemeral',
  RESTRICT: 'restrict' });

function inviteCodeOf(text) {
  return String(text).replace('chat.whatsapp.com/', '').replace('invite/', '')
    .replace('https://', '').replace('http://', '');
}

async function groupCall(method, path, body) {
  try {
    const view = await http(method, path, { auth: true, body });
    if (view && view.participants) groupChatFromView(view);
    render();
    return view;
  } catch (err) {
    throw asWPPError(err);
  }
}

/** ensureGroupAndParticipants: admin rights, and each id a participant (wa-js 4.6.0). */
function ensureParticipants(groupId, participants) {
  const groupChat = ensureGroupChat(groupId, true);
  const members = groupChat.groupMetadata.participants;
  const list = (Array.isArray(participants) ? participants : [participants]).map(assertWid)
    .map((wid) => {
      const p = members.get(resolveLid(wid));
      if (!p) {
        throw new WPPError('group_participant_not_found',
          `Group ${groupChat.id._serialized}: Participant '${wid._serialized}' not found`);
      }
      return p;
    });
  return { groupChat, members, participants: list };
}

export const group = Object.assign(membership, {
  GroupProperty,
  setSubject: asyncApi('group.setSubject', async (groupId, subject) => {
    const groupChat = ensureGroupChat(groupId, false);
    if (!(groupChat.groupMetadata && groupChat.groupMetadata.canSetSubject())) {
      throw new WPPError('you_are_not_allowed_set_group_subject',
        `You are not allowed to set group subject in ${groupChat.id._serialized}`,
        { groupId: groupChat.id.toString() });
    }
    await groupCall('POST', `/groups/${groupChat.id._serialized}/subject`, { subject });
    return true;
  }),
  setDescription: asyncApi('group.setDescription', async (groupId, description) => {
    const groupChat = ensureGroupChat(groupId, false);
    if (!(groupChat.groupMetadata && groupChat.groupMetadata.canSetDescription())) {
      throw new WPPError('you_are_not_allowed_set_group_description',
        `You are not allowed to set group description in ${groupChat.id._serialized}`,
        { groupId: groupChat.id.toString() });
    }
    await groupCall('POST', `/groups/${groupChat.id._serialized}/description`, { description });
    return true;
  }),
  // As wa-js 4.6.0 does: 'announcement' is checked with canSetEphemeralSetting, the other
  // properties with canSetGroupProperty; the server refuses non-admins either way.
  setProperty: asyncApi('group.setProperty', async (groupId, property, value) => {
    const groupChat = ensureGroupChat(groupId, false);
    const meta = groupChat.groupMetadata;
    if (property !== GroupProperty.ANNOUNCEMENT && !(meta && meta.canSetGroupProperty())) {
      throw new WPPError('you_are_not_allowed_set_group_property',
        `You are not allowed to set property in ${groupChat.id._serialized}`,
        { groupId: groupChat.id.toString() });
    }
    if (property === GroupProperty.ANNOUNCEMENT && !(meta && meta.canSetEphemeralSetting())) {
      throw new WPPError('you_are_not_allowed_set_ephemeral_setting',
        `You are not allowed to set ephemeral setting in ${groupChat.id._serialized}`,
        { groupId: groupChat.id.toString() });
    }
    if (property === GroupProperty.EPHEMERAL) {
      throw new WPPError('invalid_ephemeral_duration', 'Invalid ephemeral duration', { value });
    }
    await groupCall('POST', `/groups/${groupChat.id._serialized}/property`,
      { property, value: value ? 1 : 0 });
    return true;
  }),
  promoteParticipants: asyncApi('group.promoteParticipants', async (groupId, participantsIds) => {
    const { groupChat, members, participants } = ensureParticipants(groupId, participantsIds);
    if (participants.some((p) => !members.canPromote(p))) {
      throw new WPPError('group_participant_is_already_a_group_admin',
        `Group ${groupChat.id._serialized}: Group participant is already a group admin`);
    }
    await groupCall('POST', `/groups/${groupChat.id._serialized}/admins`,
      { promote: true, participants: participants.map((p) => p.id.user) });
  }),
  // group.demoteParticipants (wa-js 4.6.0 module 42490): canDemote for each, then WhatsApp's
  // own call, which rejects on a refusal (community.demoteParticipants is the one that resolves
  // {success: false}).
  demoteParticipants: asyncApi('group.demoteParticipants', async (groupId, participantsIds) => {
    const { groupChat, members, participants } = ensureParticipants(groupId, participantsIds);
    if (participants.some((p) => !members.canDemote(p))) {
      throw new WPPError('group_participant_is_already_not_a_group_admin',
        `Group ${groupChat.id._serialized}: Group participant is already not a group admin`);
    }
    await groupCall('POST', `/groups/${groupChat.id._serialized}/admins`,
      { promote: false, participants: participants.map((p) => p.id.user) });
  }),
  getInviteCode: asyncApi('group.getInviteCode', async (groupId) => {
    const groupChat = ensureGroupChat(groupId, true);
    return (await groupCall('GET', `/groups/${groupChat.id._serialized}/invite-code`)).code;
  }),
  revokeInviteCode: asyncApi('group.revokeInviteCode', async (groupId) => {
    const groupChat = ensureGroupChat(groupId, true);
    return (await groupCall('POST', `/groups/${groupChat.id._serialized}/invite-code/revoke`)).code;
  }),
  getGroupInfoFromInviteCode: asyncApi('group.getGroupInfoFromInviteCode', async (inviteCode) => {
    const code = inviteCodeOf(inviteCode);
    const info = await http('GET', '/invites/' + encodeURIComponent(code), { auth: true })
      .catch(() => null);
    if (!info) throw new WPPError('invalid_invite_code', 'Invalid Invite Code', { inviteCode: code });
    return Object.assign({}, info, { announce: !!info.announce, restrict: !!info.restrict,
      size: info.size, subjectOwner: undefined, descOwner: undefined, membershipApprovalMode: false });
  }),
  // The server answers a bad code with an error (wa-js rethrows it as it comes).
  join: asyncApi('group.join', async (inviteCode) => {
    const answer = await groupCall('POST', '/invites/' + encodeURIComponent(inviteCodeOf(inviteCode)) + '/join');
    return { id: answer.gid, pendingApproval: !!answer.membershipApprovalMode };
  }),
  leave: asyncApi('group.leave', async (groupId) => {
    const groupChat = ensureGroupChat(groupId, false);
    await groupCall('POST', `/groups/${groupChat.id._serialized}/leave`);
  }),
});
