// The sandbox's WPP (waengine/sandbox/static/wpp/api.js) against @wppconnect/wa-js 4.6.0's own
// types, for every function bridge.js calls (tests/unit/test_contract.py keeps USED equal to
// the calls in bridge.js): the sandbox must accept each argument list the real function accepts,
// and answer what the real one answers where the answer is plain data.
import { WPP as Sandbox } from '../../waengine/sandbox/static/wpp/api.js';

type Real = typeof import('@wppconnect/wa-js');
type WA = Real['whatsapp'];
type Fn = (...args: any[]) => any;

// What the bridge reads of WhatsApp's classes, which the sandbox models in plain JavaScript:
// ids by their fields, models field by field where the sandbox has the field (its values must
// still fit), everything else (plain answers) exactly.
type WidLike = { _serialized: string; user: string; server: string };
type MsgKeyLike = { _serialized: string; id: string; fromMe: boolean; remote: WidLike };
type Models = InstanceType<WA['MsgModel'] | WA['ChatModel'] | WA['ContactModel']
  | WA['GroupMetadataModel'] | WA['ProfilePicThumbModel'] | WA['ParticipantModel']
  | WA['StatusV3Model']>;
type Loose<T> =
  T extends InstanceType<WA['Wid']> ? WidLike
    : T extends InstanceType<WA['MsgKey']> ? MsgKeyLike
      : T extends Models ? { [K in keyof T]?: T[K] extends Fn ? unknown : Loose<T[K]> }
        : T extends Promise<infer U> ? Promise<Loose<U>>
          : T extends readonly (infer E)[] ? Loose<E>[]
            : T extends Fn ? T
              : T extends string ? string  // WhatsApp's string enums: the sandbox's names are strings
              : T extends object ? { [K in keyof T]: Loose<T[K]> }
                : T;

// The sandbox function takes every argument list the real one takes (a missing or extra
// required parameter fails) and answers what it answers; enums by their values.
type Like<F> = F extends Fn ? (...args: Parameters<F>) => Loose<ReturnType<F>>
  : { [K in keyof F]: F[K] extends string ? `${F[K]}` : F[K] };
type Takes<NS, K extends keyof NS> = { [P in K]: Like<NS[P]> };

export const USED = {
  blocklist: ['all', 'blockContact', 'isBlocked', 'unblockContact'],
  call: ['reject'],
  chat: ['archive', 'clear', 'delete', 'deleteMessage', 'downloadMedia', 'editMessage',
    'find', 'forwardMessage', 'generateMessageID', 'get', 'getMessageById', 'getMessages', 'list',
    'markIsComposing', 'markIsPaused', 'markIsRead', 'markIsRecording', 'mute', 'pin', 'pinMsg',
    'sendCreatePollMessage', 'sendFileMessage', 'sendLocationMessage', 'sendReactionToMessage',
    'getMessageACK', 'sendTextMessage', 'sendVCardContactMessage', 'starMessage', 'unmute'],
  community: ['addSubgroups', 'create', 'deactivate', 'demoteParticipants', 'getAnnouncementGroup',
    'getSubgroups', 'promoteParticipants', 'removeSubgroups'],
  conn: ['genLinkDeviceCodeForPhoneNumber', 'getAuthCode', 'getBuildConstants', 'getMyUserId',
    'getStreamData', 'isAuthenticated', 'isIdle', 'logout', 'markAvailable', 'markUnavailable',
    'needsUpdate', 'setKeepAlive', 'startLinkDeviceCodeForPhoneNumber'],
  contact: ['get', 'getPnLidEntry', 'getProfilePictureUrl', 'getStatus', 'list', 'queryExists',
    'subscribePresence'],
  group: ['GroupProperty', 'addParticipants', 'create', 'demoteParticipants', 'getAllGroups',
    'getGroupInfoFromInviteCode', 'getInviteCode', 'iAmMember', 'join', 'leave',
    'promoteParticipants', 'removeParticipants', 'revokeInviteCode', 'setDescription',
    'setProperty', 'setSubject'],
  labels: ['addNewLabel', 'addOrRemoveLabels', 'getAllLabels', 'getLabelColorPalette'],
  newsletter: ['create', 'destroy', 'edit', 'follow', 'getSubscribers', 'unfollow'],
  status: ['getMyStatus', 'remove', 'sendImageStatus', 'sendTextStatus', 'sendVideoStatus'],
  profile: ['getMyProfileName', 'getMyProfilePicture', 'getMyStatus', 'isBusiness',
    'setMyProfileName', 'setMyProfilePicture', 'setMyStatus'],
} as const;
type Used<NS extends keyof typeof USED> = (typeof USED)[NS][number];

type Contract = {
  [NS in keyof typeof USED]: Takes<Real[NS], Used<NS> & keyof Real[NS]>;
};

// One assignment per namespace, so a mismatch names its function.
export const blocklist: Contract['blocklist'] = Sandbox.blocklist;
export const call: Contract['call'] = Sandbox.call;
export const chat: Contract['chat'] = Sandbox.chat;
export const community: Contract['community'] = Sandbox.community;
export const conn: Contract['conn'] = Sandbox.conn;
export const contact: Contract['contact'] = Sandbox.contact;
export const group: Contract['group'] = Sandbox.group;
export const labels: Contract['labels'] = Sandbox.labels;
export const newsletter: Contract['newsletter'] = Sandbox.newsletter;
export const status: Contract['status'] = Sandbox.status;
export const profile: Contract['profile'] = Sandbox.profile;
