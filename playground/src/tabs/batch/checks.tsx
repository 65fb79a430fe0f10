/** The checks of a batch as a list editor: contains, regex, equals, maxLength, isJson (src/batch/checks.ts). */
import { useBatchT } from './messages';

export interface CheckDraft {
  type: 'contains' | 'regex' | 'equals' | 'maxLength' | 'isJson';
  value: string;
  ignoreCase?: boolean;
}

const TYPES: CheckDraft['type'][] = ['contains', 'regex', 'equals', 'maxLength', 'isJson'];

/** The checks as POST /api/batch takes them; rows still empty are left out. */
export function checksForRequest(checks: CheckDraft[]): unknown[] {
  return checks.flatMap((check) => {
    switch (check.type) {
      case 'contains':
        return check.value ? [{ type: 'contains', value: check.value, ignoreCase: check.ignoreCase === true }] : [];
      case 'regex':
        return check.value ? [{ type: 'regex', pattern: check.value }] : [];
      case 'equals':
        return [{ type: 'equals', value: check.value }];
      case 'maxLength':
        return check.value.trim() ? [{ type: 'maxLength', value: Number(check.value) }] : [];
      case 'isJson':
        return [{ type: 'isJson' }];
    }
  });
}

export function ChecksEditor({ checks, onChange }: { checks: CheckDraft[]; onChange: (checks: CheckDraft[]) => void }) {
  const t = useBatchT();
  const set = (index: number, change: Partial<CheckDraft>) => onChange(checks.map((c, i) => (i === index ? { ...c, ...change } : c)));
  return (
    <fieldset data-testid="batch-checks">
      <legend>{t('checks')}</legend>
      {checks.length === 0 && <p class="muted">{t('noChecks')}</p>}
      {checks.map((check, index) => (
        <div class="row batch-check" key={index} data-check={index}>
          <select aria-label={t('checks')} value={check.type} onChange={(e) => set(index, { type: e.currentTarget.value as CheckDraft['type'] })}>
            {TYPES.map((type) => (
              <option key={type} value={type}>
                {t(type)}
              </option>
            ))}
          </select>
          {check.type !== 'isJson' && (
            <input
              class="mono"
              inputMode={check.type === 'maxLength' ? 'numeric' : 'text'}
              aria-label={check.type === 'regex' ? t('pattern') : check.type === 'maxLength' ? t('characters') : t('value')}
              placeholder={check.type === 'regex' ? '^Once' : check.type === 'maxLength' ? '400' : ''}
              value={check.value}
              onInput={(e) => set(index, { value: e.currentTarget.value })}
            />
          )}
          <button type="button" aria-label={t('remove')} title={t('remove')} onClick={() => onChange(checks.filter((_, i) => i !== index))}>
            ×
          </button>
          {check.type === 'contains' && (
            <label>
              <input type="checkbox" checked={check.ignoreCase === true} onChange={(e) => set(index, { ignoreCase: e.currentTarget.checked })} /> {t('ignoreCase')}
            </label>
          )}
        </div>
      ))}
      <button type="button" data-testid="batch-add-check" onClick={() => onChange([...checks, { type: 'contains', value: '' }])}>
        + {t('addCheck')}
      </button>
    </fieldset>
  );
}
