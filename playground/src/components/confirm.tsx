/**
 * A destructive action asked twice: the button, then in its place the question with the action and
 * Cancel. `testId` names the first button; the confirming one is `<testId>-confirm`.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { defineMessages } from '../i18n';

const useT = defineMessages({ en: { cancel: 'Cancel' }, ja: { cancel: 'キャンセル' } });

export interface ConfirmActionProps {
  /** The first button's text. */
  label: ComponentChildren;
  /** The question shown in its place. */
  question: ComponentChildren;
  /** The confirming button's text (default: `label`). */
  confirmLabel?: ComponentChildren;
  /** Runs on confirm; the question closes first. */
  onConfirm(): void;
  disabled?: boolean;
  testId: string;
}

export function ConfirmAction(props: ConfirmActionProps) {
  const t = useT();
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" data-testid={props.testId} disabled={props.disabled} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  }
  return (
    <span class="row confirm-question" role="group">
      {props.question}
      <button
        type="button"
        class="danger"
        data-testid={`${props.testId}-confirm`}
        disabled={props.disabled}
        onClick={() => {
          setAsking(false);
          props.onConfirm();
        }}
      >
        {props.confirmLabel ?? props.label}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        {t('cancel')}
      </button>
    </span>
  );
}
